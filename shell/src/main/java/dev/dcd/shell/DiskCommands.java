package dev.dcd.shell;

import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.OverlayWrites;
import dev.dcd.mount.MountService;
import dev.dcd.service.BuildService;
import dev.dcd.service.VmService;
import dev.dcd.service.Views;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.VmdkDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
            printBuilt(context, vmName, built);
            if (context.json()) {
                Output.json(context.out(), built.generation());
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
            List<Views.GenerationRow> rows = new VmService(context.environment()).generations(vmName);
            if (context.json()) {
                int current = rows.stream().filter(Views.GenerationRow::current).mapToInt(r -> r.generation().number())
                        .findFirst().orElse(0);
                Output.json(context.out(), Map.of("current", current,
                        "generations", rows.stream().map(Views.GenerationRow::generation).toList()));
                return 0;
            }
            Output.Table table = new Output.Table("GEN", "CURRENT", "BUILT", "FILES", "APP DATA", "VIRTUAL", "ALLOCATED",
                    "GUEST WRITES").right(0, 3, 4, 5, 6);
            for (Views.GenerationRow row : rows) {
                Vm.Generation g = row.generation();
                table.row(g.number(), row.current() ? "*" : "", Output.time(g.builtAt()),
                        g.fileCount(), Sizes.format(g.appBytes()), Sizes.format(g.virtualSize()), Sizes.format(g.allocatedBytes()),
                        row.guestWrites() ? "yes" : "no");
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
            Views.Discarded done = new VmService(context.environment()).discard(vmName, number, force);
            context.out().println("discarded generation " + number + " of " + vmName
                    + (done.guestWriteBytes() > 0 ? " and its " + Sizes.format(done.guestWriteBytes()) + " of guest writes" : ""));
            if (done.appsRetired()) {
                context.out().println("removed app versions may now be unused: 'dcd catalog gc --dry-run' lists what it would reclaim");
            }
            return 0;
        }
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
            Views.DiskStat stat = new VmService(context.environment()).stat(vmName, number);
            if (context.json()) {
                Output.json(context.out(), stat);
                return 0;
            }
            print(context.out(), stat);
            return 0;
        }
    }

    /**
     * On stderr what the user should know about the disk the build replaced, then (without {@code --json}) the
     * build's line on stdout.
     */
    static void printBuilt(Context context, String vmName, BuildService.Built built) {
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
        if (!context.json()) {
            context.out().println("built " + vmName + " generation " + g.number() + ": virtual size "
                    + Sizes.format(g.virtualSize()) + ", allocated " + Sizes.format(g.allocatedBytes()) + ", "
                    + g.fileCount() + " files, " + Sizes.format(g.appBytes()) + " mapped from apps");
        }
    }

    /** {@code disk stat} as text: what the demo shows too. */
    static void print(java.io.PrintWriter out, Views.DiskStat stat) {
        long app = stat.appBytesMapped();
        out.println(stat.vm() + " generation " + stat.generation());
        out.println("virtual size     " + stat.virtualSize() + " (" + Sizes.format(stat.virtualSize()) + ")");
        out.println("allocated        " + stat.allocatedBytes() + " (" + Sizes.format(stat.allocatedBytes()) + ")");
        out.println("app bytes mapped " + app + " (" + Sizes.format(app) + ") from " + stat.vdisks() + " vdisk(s)");
        out.println("files            " + stat.fileCount());
        Output.Table table = new Output.Table("REGION", "COUNT", "BYTES").right(1, 2);
        for (Map.Entry<String, Views.RegionStat> e : stat.regions().entrySet()) {
            table.row(e.getKey(), e.getValue().count(), e.getValue().bytes());
        }
        table.print(out);
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
