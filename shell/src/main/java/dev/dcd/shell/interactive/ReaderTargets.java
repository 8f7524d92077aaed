package dev.dcd.shell.interactive;

import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.mount.MountService;
import dev.dcd.service.AppLayers;
import dev.dcd.shell.Context;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.FsNode;
import dev.dcd.synth.MergedTree;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a background reader reads on a mounted VM: the mount it names (by VM or mountpoint), every regular file of
 * the mounted generation with the sha256 its app's manifest gives (the apps merged exactly as the disk build
 * merged them), and slices of {@code disk.img}.
 */
final class ReaderTargets {
    static final String FILES = "files";
    static final String DISK = "disk.img";

    private ReaderTargets() {
    }

    /** The mount a reader reads: VM, mountpoint, and the generation it serves. */
    record Mount(String vm, Path mountpoint, int generation) {
    }

    /**
     * The live mount named by {@code target}: a VM with a live mount, or the mountpoint of one. A VM that is not
     * mounted and a path that is no dcd mount each get one line saying so.
     */
    static Mount resolve(Context context, String target) throws IOException {
        List<MountService.LiveMount> live = MountService.liveMountGenerations(context.home());
        for (MountService.LiveMount m : live) {
            if (m.vm().equals(target)) {
                return withGeneration(context, m);
            }
        }
        Path asPath = Path.of(target).toAbsolutePath().normalize();
        for (MountService.LiveMount m : live) {
            if (m.mountpoint().toAbsolutePath().normalize().equals(asPath) || sameFile(m.mountpoint(), asPath)) {
                return withGeneration(context, m);
            }
        }
        if (context.catalog().vm(target).isPresent()) {
            throw new CatalogException("VM '" + target + "' is not mounted; mount it first with 'dcd mount " + target + " DIR'");
        }
        throw new CatalogException("'" + target + "' is neither a mounted VM nor the mountpoint of one (see 'dcd stats')");
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** Records from before generations were recorded say 0: such a mount serves the VM's current generation. */
    private static Mount withGeneration(Context context, MountService.LiveMount m) throws IOException {
        if (m.generation() > 0) {
            return new Mount(m.vm(), m.mountpoint(), m.generation());
        }
        Vm vm = context.catalog().requireVm(m.vm());
        int current = vm.current().map(Vm.Generation::number).orElseThrow(() -> new CatalogException(
                "VM '" + m.vm() + "' has no disk generation"));
        return new Mount(m.vm(), m.mountpoint(), current);
    }

    /**
     * Every regular file the mounted generation holds, by path, with its expected size and sha256: the VM's
     * assigned apps merged as the build merged them, checked against the generation's file index so that a
     * generation built from other app versions is refused instead of reported as thousands of wrong files.
     */
    static List<BackgroundReader.FileItem> files(Context context, Mount mount) throws IOException {
        Vm vm = context.catalog().requireVm(mount.vm());
        MergedTree tree = MergedTree.merge(AppLayers.of(context.environment(), vm));
        Path generationDir = context.vmDir(vm.name()).resolve("gen-" + mount.generation());
        FileIndex index = FileIndex.load(generationDir.resolve(FileIndex.FILE_NAME));
        Path root = mount.mountpoint().resolve(FILES);
        List<BackgroundReader.FileItem> items = new ArrayList<>();
        collect(tree.root(), "", (path, file) -> {
            FileIndex.Node node = index.get(path);
            if (node == null || node.kind() != FileIndex.Kind.FILE || node.size() != file.size()) {
                throw new CatalogException("VM '" + vm.name() + "' generation " + mount.generation() + " was not built from"
                        + " the apps assigned now (/" + path + " differs); rebuild with 'dcd disk build " + vm.name()
                        + "' and mount the new generation");
            }
            items.add(new BackgroundReader.FileItem(root.resolve(path), FILES + "/" + path, file.size(), file.sha256()));
        });
        return items;
    }

    private interface FileVisitor {
        void visit(String path, FsNode.File file) throws IOException;
    }

    private static void collect(FsNode.Dir dir, String prefix, FileVisitor visitor) throws IOException {
        for (Map.Entry<String, FsNode> e : dir.children().entrySet()) {
            String path = prefix.isEmpty() ? e.getKey() : prefix + "/" + e.getKey();
            if (e.getValue() instanceof FsNode.Dir sub) {
                collect(sub, path, visitor);
            } else if (e.getValue() instanceof FsNode.File file) {
                visitor.visit(path, file);
            }
        }
    }

    /**
     * Slices of {@code disk.img} for the ranges {@code spec} names: {@code all}, or a comma-separated list of
     * {@code OFFSET:LENGTH} with size suffixes ({@code 0:1M,64M:8M}). Ranges are widened to whole 4 KiB blocks
     * (what O_DIRECT reads) and cut at the end of the disk.
     */
    static List<BackgroundReader.DiskSlice> diskSlices(Mount mount, String spec) throws IOException {
        Path disk = mount.mountpoint().resolve(DISK);
        long size = Files.size(disk);
        List<long[]> ranges = parseRanges(spec, size);
        List<BackgroundReader.DiskSlice> slices = new ArrayList<>();
        for (long[] r : ranges) {
            for (long at = r[0]; at < r[1]; at += BackgroundReader.DISK_SLICE) {
                int length = (int) Math.min(BackgroundReader.DISK_SLICE, r[1] - at);
                slices.add(new BackgroundReader.DiskSlice(disk, DISK + "@" + at, at, length));
            }
        }
        return slices;
    }

    /** [start, end) pairs, block-aligned and inside {@code [0, size)}; bad text is one line naming the range. */
    static List<long[]> parseRanges(String spec, long size) {
        List<long[]> ranges = new ArrayList<>();
        long block = BackgroundReader.ALIGNMENT;
        if (spec.strip().equals("all")) {
            ranges.add(new long[]{0, size});
            return ranges;
        }
        for (String part : spec.split(",")) {
            String p = part.strip();
            int colon = p.indexOf(':');
            Optional<long[]> parsed = Optional.empty();
            if (colon > 0 && colon < p.length() - 1) {
                try {
                    long offset = Sizes.parse(p.substring(0, colon));
                    long length = Sizes.parse(p.substring(colon + 1));
                    if (offset >= 0 && length > 0) {
                        parsed = Optional.of(new long[]{offset, length});
                    }
                } catch (RuntimeException e) {
                    // reported below with the range's own text
                }
            }
            long[] r = parsed.orElseThrow(() -> new IllegalArgumentException("bad disk range '" + p
                    + "' (expected OFFSET:LENGTH such as 0:1M or 64M:8M, or 'all')"));
            if (r[0] >= size) {
                throw new IllegalArgumentException("disk range '" + p + "' starts at or after the end of the disk ("
                        + size + " bytes)");
            }
            long start = r[0] / block * block;
            long end = Math.min(size, (Math.addExact(r[0], r[1]) + block - 1) / block * block);
            ranges.add(new long[]{start, end});
        }
        return ranges;
    }
}
