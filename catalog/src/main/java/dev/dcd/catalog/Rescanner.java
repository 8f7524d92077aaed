package dev.dcd.catalog;

import dev.dcd.backend.Backend;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.Manifest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Rebuilds catalog entries from what backends hold: every vdisk carries its app name and version in its
 * manifest, so a lost catalog costs nothing but a rescan.
 */
public final class Rescanner {
    private final Catalog catalog;
    private final BackendOpener backends;

    public Rescanner(Catalog catalog, BackendOpener backends) {
        this.catalog = catalog;
        this.backends = backends;
    }

    /**
     * @param backendName one backend, or null for all of them
     * @return the app versions newly registered
     */
    public List<AppVersion> rescan(String backendName, Consumer<String> warn) throws IOException {
        List<BackendEntry> targets = new ArrayList<>();
        if (backendName == null) {
            targets.addAll(catalog.backends());
        } else {
            targets.add(catalog.requireBackend(backendName));
        }
        List<AppVersion> added = new ArrayList<>();
        for (BackendEntry entry : targets) {
            Backend backend = backends.open(entry.name());
            for (Backend.ObjectStat object : backend.list()) {
                if (!catalog.usersOf(object.id()).isEmpty()) {
                    continue;
                }
                Manifest manifest;
                try (BlockDevice device = backend.open(object.id())) {
                    manifest = AppVdisk.open(device).manifest();
                } catch (IOException e) {
                    warn.accept("skipped " + entry.name() + ":" + object.id().shortHex() + ": " + e.getMessage());
                    continue;
                }
                var known = catalog.app(manifest.appName(), manifest.appVersion());
                if (known.isPresent()) {
                    warn.accept("skipped " + entry.name() + ":" + object.id().shortHex() + ": " + known.get().label()
                            + " is already in the catalog with vdisk " + known.get().id().shortHex());
                    continue;
                }
                AppVersion app = new AppVersion(manifest.appName(), manifest.appVersion(), object.id().hex(), entry.name(),
                        manifest.fileCount(), manifest.contentBytes(), object.size(), catalog.clock().millis());
                catalog.addApp(app);
                added.add(app);
            }
        }
        return added;
    }
}
