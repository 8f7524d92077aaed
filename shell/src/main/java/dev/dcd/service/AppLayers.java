package dev.dcd.service;

import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Vm;
import dev.dcd.synth.AppLayer;
import dev.dcd.vdisk.AppVdisk;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The apps assigned to a VM as the synthesizer sees them (manifest, vdisk, priority), read from the catalog
 * and each app's backend. Disk builds lay these out; the shell's background reader merges the same layers
 * to know the sha256 every file of a mounted VM must have.
 */
public final class AppLayers {
    private AppLayers() {
    }

    public static List<AppLayer> of(DcdEnvironment env, Vm vm) throws IOException {
        Catalog catalog = env.catalog();
        List<AppLayer> layers = new ArrayList<>();
        for (Vm.Assignment a : vm.apps()) {
            AppVersion app = catalog.app(a.app(), a.version()).orElseThrow(() -> new CatalogException(
                    "app " + a.label() + " assigned to VM '" + vm.name() + "' is no longer in the catalog"));
            try (BlockDevice device = env.backend(app.backend()).open(app.id())) {
                layers.add(new AppLayer(app.name(), app.version(), app.id(), AppVdisk.open(device).manifest(), a.priority()));
            }
        }
        return layers;
    }
}
