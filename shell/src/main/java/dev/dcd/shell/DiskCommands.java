package dev.dcd.shell;

import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.OverlayWrites;
import dev.dcd.mount.MountService;
import dev.dcd.service.BuildService;
import dev.dcd.service.VmService;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.synth.VmdkDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "disk", description = "Build, inspect and export a VM's dynamic content disk.",
        subcommands = {DiskCommands.Build.class, DiskCommands.Generations.class, DiskCommands.Discard.class,
                DiskCommands.Stat.class, DiskCommands.Export.class})
final class DiskCommands {

    static Path generationDir(Context context, String vm, int generation) {
        return context.environment().generationDir(vm, generation);
    }

    /** The VM's generation {@code requested}, or its current one when {@code requested} is null. */
    static Vm.Generation generation(Vm vm, Integer requested) throws CatalogException {
        return VmService.generation(vm, requested);
    }

    @Command(name = "build", description = "Synthesize a new disk generation from the VM's apps.")
    static final class Build implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String vmName;

        Build(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            BuildService.Built built = new BuildService(context.environment()).build(vmName, context.progress());
            Vm.Generation g = built.generation();
            for (MountService.LiveMount m : built.mounts()) {
                String served = Integer.toString(m.generation() > 0 ? m.generation() : built.previous());
                context.err().println("dcd: VM '" + vmName + "' is mounted at " + m.mountpoint() + " and keeps serving"
                        + " generation " + served + " until it is remounted ('dcd umount " + m.mountpoint() + "', then 'dcd mount "
                        + vmName + " " + m.mountpoint() + "'); the guest's writes stay in generation " + served
                        + " and do not carry over to generation " + g.number());
            }
            if (built.previousHoldsWrites()) {
                context.err().println("dcd: generation " + built.previous() + " holds guest writes; it is kept"
                        + " with its overlay (see 'dcd disk generations " + vmName + "', delete with 'dcd disk discard "
                        + vmName + " " + built.previous() + "')");
            }
            if (context.json()) {
                Output.json(context.out(), g);
            } else {
                context.out().println("built " + vmName + " generation " + g.number() + ": virtual size "
                        + Sizes.format(g.virtualSize()) + ", allocated " + Sizes.format(g.allocatedBytes()) + ", "
                        + g.fileCount() + " files, " + Sizes.format(g.appBytes()) + " mapped from apps");
            }
            return 0;
        }
    }

    @Command(name = "generations", description = "List a VM's disk generations.")
    static final class Generations implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String vmName;

        Generations(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Vm vm = context.catalog().requireVm(vmName);
            if (context.json()) {
                Output.json(context.out(), Map.of("current", vm.currentGeneration(), "generations", vm.generations()));
                return 0;
            }
            Output.Table table = new Output.Table("GEN", "CURRENT", "BUILT", "FILES", "APP DATA", "VIRTUAL", "ALLOCATED",
                    "GUEST WRITES").right(0, 3, 4, 5, 6);
            for (Vm.Generation g : vm.generations()) {
                table.row(g.number(), g.number() == vm.currentGeneration() ? "*" : "", Output.time(g.builtAt()),
                        g.fileCount(), Sizes.format(g.appBytes()), Sizes.format(g.virtualSize()), Sizes.format(g.allocatedBytes()),
                        DynamicContentDisk.hasWrites(generationDir(context, vmName, g.number())) ? "yes" : "no");
            }
            table.print(context.out());
            return 0;
        }
    }

    @Command(name = "discard", description = "Delete a disk generation; the current one, and one holding guest writes (which are lost with "
            + "it), only with --force.")
    static final class Discard implements Callable<Integer> {
        private final Context context;
        @Parameters(index = "0", paramLabel = "VM")
        String vmName;
        @Parameters(index = "1", paramLabel = "GEN")
        int number;
        @Option(names = "--force", description = "also discard the current generation, or one holding guest writes")
        boolean force;

        Discard(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Catalog catalog = context.catalog();
            // Checks, catalog change and delete in one write session: no build can take the number meanwhile.
            // On a full disk the session uses the catalog's space reserve (docs/catalog.md).
            long written = catalog.write(() -> {
                Vm vm = catalog.requireVm(vmName);
                Vm.Generation gen = generation(vm, number);
                Path mountpoint = StatsCommand.mountedVms(context.home()).get(vmName);
                if (mountpoint != null) {
                    throw new CatalogException("VM '" + vmName + "' is mounted at " + mountpoint + "; 'dcd umount "
                            + mountpoint + "' before discarding a generation");
                }
                long bytes = guestWriteBytes(context, vm, gen);
                if (bytes > 0 && !force) {
                    throw new CatalogException("generation " + number + " of VM '" + vmName + "' holds " + Sizes.format(bytes)
                            + " of guest writes, which discarding deletes for good; save them with 'dcd disk export " + vmName
                            + " FILE --generation " + number + "', or pass --force to discard them");
                }
                if (number == vm.currentGeneration() && !force) {
                    throw new CatalogException("generation " + number + " is the current disk of VM '" + vmName
                            + "'; pass --force to discard it anyway");
                }
                Path dir = generationDir(context, vmName, number);
                // An NBD export holds the generation as a mount does; held here, nothing can start serving it meanwhile.
                try (dev.dcd.mount.GenerationLock held = Files.isDirectory(dir)
                        ? dev.dcd.mount.GenerationLock.acquire(dir, "generation " + number + " of VM '" + vmName + "'") : null) {
                    catalog.putVm(vm.withoutGeneration(number));
                    VmCommands.deleteTree(dir);
                }
                return bytes;
            });
            context.out().println("discarded generation " + number + " of " + vmName
                    + (written > 0 ? " and its " + Sizes.format(written) + " of guest writes" : ""));
            if (!catalog.retired().isEmpty()) {
                context.out().println("removed app versions may now be unused: 'dcd catalog gc --dry-run' lists what it would reclaim");
            }
            return 0;
        }
    }

    /** Bytes of guest writes a generation holds; see {@link VmService#guestWriteBytes}. */
    static long guestWriteBytes(Context context, Vm vm, Vm.Generation g) throws IOException {
        return new VmService(context.environment()).guestWriteBytes(vm, g);
    }

    @Command(name = "stat", description = "Sizes and region counts of a VM's current disk.")
    static final class Stat implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String vmName;
        @Option(names = "--generation", paramLabel = "GEN", description = "a generation other than the current one")
        Integer number;

        Stat(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Vm vm = context.catalog().requireVm(vmName);
            Vm.Generation g = generation(vm, number);
            Path dir = generationDir(context, vmName, g.number());
            RegionMap map = RegionMap.load(dir.resolve(SynthesizedDisk.REGIONS));
            long allocated = SynthesizedDisk.allocatedBytes(dir.resolve(SynthesizedDisk.IMAGE));
            Map<String, Object> stat = new LinkedHashMap<>();
            stat.put("vm", vmName);
            stat.put("generation", g.number());
            stat.put("virtualSize", map.size());
            stat.put("allocatedBytes", allocated);
            stat.put("appBytesMapped", map.bytesOf(RegionMap.Kind.APP_DATA));
            stat.put("fileCount", g.fileCount());
            stat.put("vdisks", map.vdisks().size());
            Map<String, Object> regions = new LinkedHashMap<>();
            for (RegionMap.Kind kind : RegionMap.Kind.values()) {
                regions.put(kind.name().toLowerCase(), Map.of("count", map.countOf(kind), "bytes", map.bytesOf(kind)));
            }
            stat.put("regions", regions);
            if (context.json()) {
                Output.json(context.out(), stat);
                return 0;
            }
            var out = context.out();
            out.println(vmName + " generation " + g.number());
            out.println("virtual size     " + map.size() + " (" + Sizes.format(map.size()) + ")");
            out.println("allocated        " + allocated + " (" + Sizes.format(allocated) + ")");
            out.println("app bytes mapped " + map.bytesOf(RegionMap.Kind.APP_DATA) + " (" + Sizes.format(map.bytesOf(RegionMap.Kind.APP_DATA))
                    + ") from " + map.vdisks().size() + " vdisk(s)");
            out.println("files            " + g.fileCount());
            Output.Table table = new Output.Table("REGION", "COUNT", "BYTES").right(1, 2);
            for (RegionMap.Kind kind : RegionMap.Kind.values()) {
                table.row(kind.name().toLowerCase(), map.countOf(kind), map.bytesOf(kind));
            }
            table.print(out);
            return 0;
        }
    }

    @Command(name = "export", description = "Write the disk as the guest sees it (synthesized content plus the guest's writes) as a sparse "
            + "raw image or a monolithicFlat VMDK; --pristine leaves the guest's writes out.")
    static final class Export implements Callable<Integer> {
        private final Context context;
        @Parameters(index = "0", paramLabel = "VM")
        String vmName;
        @Parameters(index = "1", paramLabel = "FILE")
        Path file;
        @Option(names = "--format", paramLabel = "raw|vmdk", defaultValue = "raw", description = "raw or vmdk (default: ${DEFAULT-VALUE})")
        String format;
        @Option(names = "--generation", paramLabel = "GEN", description = "a generation other than the current one")
        Integer number;
        @Option(names = "--pristine", description = "export the disk as built, without the guest's writes")
        boolean pristine;

        Export(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            if (!format.equals("raw") && !format.equals("vmdk")) {
                throw new IllegalArgumentException("unknown export format '" + format + "' (expected raw or vmdk)");
            }
            Vm vm = context.catalog().requireVm(vmName);
            Vm.Generation g = generation(vm, number);
            Path dir = generationDir(context, vmName, g.number());
            RegionMap map = RegionMap.load(dir.resolve(SynthesizedDisk.REGIONS));
            Path target = file.toAbsolutePath();
            Path parent = target.getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new CatalogException("directory " + parent + " does not exist");
            }
            Path raw = format.equals("raw") ? target : target.resolveSibling(VmdkDescriptor.flatNameFor(target.getFileName().toString()));
            // Read before the base is written: a mount of this generation may go on writing, and the export
            // holds what its last flush made durable.
            OverlayWrites writes = pristine ? null : OverlayWrites.read(dir, map.size());
            for (MountService.LiveMount m : MountService.liveMountGenerations(context.home())) {
                // A record without a generation (older dcd) may serve this one.
                if (writes != null && m.vm().equals(vmName) && (m.generation() == g.number() || m.generation() == 0)) {
                    context.err().println("dcd: warning: VM '" + vmName + "' generation " + g.number() + " is mounted at "
                            + m.mountpoint() + "; the export holds the guest's writes flushed so far (for a consistent"
                            + " copy, shut the guest down or 'dcd umount " + m.mountpoint() + "' first)");
                }
            }
            // Written beside the target and renamed into place: a failed export (a damaged chunk, a full disk) leaves
            // no half image and does not truncate a file the user already had there.
            Path partial = raw.resolveSibling(raw.getFileName() + ".dcd-partial");
            try {
                try (ProgressReporter progress = new ProgressReporter(context, "export", map.size())) {
                    // Checked like the chain's reads: an export never copies a byte whose chunk fails its CRC32C.
                    java.util.Map<dev.dcd.vdisk.ContentId, dev.dcd.filter.VdiskLabel> labels = new java.util.HashMap<>();
                    for (dev.dcd.vdisk.ContentId id : map.vdisks()) {
                        var users = context.catalog().usersOf(id);
                        labels.put(id, users.isEmpty() ? new dev.dcd.filter.VdiskLabel("vdisk " + id.shortHex(), "unknown")
                                : new dev.dcd.filter.VdiskLabel(users.get(0).label(), users.get(0).backend()));
                    }
                    var verified = dev.dcd.filter.VerifiedVdisk.verifying(context::openVdisk, labels::get);
                    DiskMaterializer.materialize(map, dir.resolve(SynthesizedDisk.IMAGE), verified, partial, progress);
                }
                if (writes != null && !writes.isEmpty()) {
                    try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(partial,
                            java.nio.file.StandardOpenOption.WRITE)) {
                        writes.copyTo(dir, channel);
                        channel.force(true);
                    }
                }
                Files.move(partial, raw, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(partial);
                throw e;
            }
            String guest = pristine ? ", pristine: without the guest's writes"
                    : writes.isEmpty() ? "" : ", with " + Sizes.format(writes.bytes()) + " of guest writes";
            if (format.equals("vmdk")) {
                VmdkDescriptor descriptor = VmdkDescriptor.monolithicFlat(map.size(), raw.getFileName().toString(),
                        vmName + "/gen-" + g.number());
                Files.writeString(target, descriptor.render(), StandardCharsets.US_ASCII);
                context.out().println("exported " + vmName + " generation " + g.number() + " to " + target + " (extent "
                        + raw.getFileName() + ", " + Sizes.format(map.size()) + guest + ")");
            } else {
                context.out().println("exported " + vmName + " generation " + g.number() + " to " + target + " ("
                        + Sizes.format(map.size()) + ", sparse" + guest + ")");
            }
            return 0;
        }
    }
}
