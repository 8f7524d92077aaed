package dev.dcd.shell;

import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.VdiskReferences;
import dev.dcd.mount.MountService;
import dev.dcd.nbd.ServeService;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Feeds {@link VdiskReferences} what only this layer knows: which vdisks a generation maps (its
 * {@code regions.bin}) and which generations live servers read: mounts (their records under
 * {@code $DCD_HOME/mounts}) and NBD servers ({@code $DCD_HOME/serve}).
 */
final class References {
    private static final String GENERATION_PREFIX = "gen-";

    private References() {
    }

    static VdiskReferences compute(Context context) throws IOException {
        List<VdiskReferences.LiveMount> mounts = new ArrayList<>();
        for (MountService.LiveMount m : MountService.liveMountGenerations(context.home())) {
            if (m.generation() > 0) {
                mounts.add(new VdiskReferences.LiveMount(m.vm(), m.generation(), m.mountpoint().toString()));
            } else {
                everyGenerationOnDisk(context, m.vm(), m.mountpoint().toString(), mounts);
            }
        }
        for (ServeService.Record s : ServeService.liveServers(context.home())) {
            // An NBD server's record does not name its generation either.
            everyGenerationOnDisk(context, s.vm(), s.uri() == null ? "nbd (pid " + s.pid() + ")" : s.uri(), mounts);
        }
        return VdiskReferences.compute(context.catalog(), (vm, g) -> vdisksOf(context, vm, g), mounts);
    }

    /** A server whose record does not say which generation it serves: every generation of its VM on disk may be it. */
    private static void everyGenerationOnDisk(Context context, String vm, String where,
                                              List<VdiskReferences.LiveMount> mounts) throws IOException {
        for (int g : generationsOnDisk(context.vmDir(vm))) {
            mounts.add(new VdiskReferences.LiveMount(vm, g, where));
        }
    }

    /** The vdisks a generation maps, from its region map; a map that cannot be read stops the caller. */
    static Set<ContentId> vdisksOf(Context context, String vm, int generation) throws IOException {
        Path file = DiskCommands.generationDir(context, vm, generation).resolve(SynthesizedDisk.REGIONS);
        String what = "cannot tell which vdisks VM " + vm + " generation " + generation + " reads: ";
        String hint = "; nothing was deleted (if that generation is beyond repair, 'dcd disk discard " + vm + " "
                + generation + "' forgets it)";
        if (!Files.exists(file)) {
            throw new CatalogException(what + file + " is missing" + hint);
        }
        try {
            return new LinkedHashSet<>(RegionMap.load(file).vdisks());
        } catch (IOException | RuntimeException e) {
            // The loader's line names the file already.
            throw new CatalogException(what + ErrorLine.of(e) + hint);
        }
    }

    private static List<Integer> generationsOnDisk(Path vmDir) throws IOException {
        List<Integer> found = new ArrayList<>();
        if (!Files.isDirectory(vmDir)) {
            return found;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(vmDir, GENERATION_PREFIX + "*")) {
            for (Path d : dirs) {
                String n = d.getFileName().toString().substring(GENERATION_PREFIX.length());
                if (n.matches("[1-9][0-9]{0,8}") && Files.isDirectory(d)) {
                    found.add(Integer.parseInt(n));
                }
            }
        }
        found.sort(null);
        return found;
    }
}
