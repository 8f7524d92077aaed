package dev.dcd.shell;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.synth.FsType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "vm", description = "Create VMs and choose the apps on their disks.",
        subcommands = {VmCommands.Create.class, VmCommands.Assign.class, VmCommands.Unassign.class,
                VmCommands.ListCmd.class, VmCommands.Show.class, VmCommands.Rm.class})
final class VmCommands {
    /** The smallest disk a synthesizer accepts (DiskSpec's rule). */
    static final long MIN_SIZE = 16L << 20;

    @Command(name = "create", description = "Create a VM.")
    static final class Create implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String name;
        @Option(names = "--fs", paramLabel = "ext4|fat32", defaultValue = "ext4", description = "filesystem (default: ${DEFAULT-VALUE})")
        String fs;
        @Option(names = "--size", paramLabel = "SIZE", defaultValue = "8G", description = "virtual disk size, like 8G or 512M (default: ${DEFAULT-VALUE})")
        String size;
        @Option(names = "--symlinks", paramLabel = "skip|copy", description = {"FAT32 only: skip symlinks with a warning (default),",
                "or copy the content of a target that is a regular file"})
        String symlinks;

        Create(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            FsType type = FsType.parse(fs);
            long bytes = Sizes.parse(size);
            if (bytes < MIN_SIZE || bytes % 4096 != 0) {
                throw new IllegalArgumentException("disk size must be a multiple of 4 KiB and at least 16M, got " + size);
            }
            if (type == FsType.FAT32 && bytes < dev.dcd.synth.fat32.Fat32Synthesizer.MIN_DISK_SIZE) {
                long min = dev.dcd.synth.fat32.Fat32Synthesizer.MIN_DISK_SIZE;
                throw new IllegalArgumentException("a fat32 disk must be at least " + ((min + (1 << 20) - 1) >> 20)
                        + "M (" + min + " bytes: FAT32 needs 65525 clusters), got " + size + "; choose a larger --size or ext4");
            }
            if (symlinks != null && type != FsType.FAT32) {
                throw new IllegalArgumentException("--symlinks applies to fat32 disks only; ext4 keeps symlinks as they are");
            }
            String policy = symlinks == null ? Vm.SYMLINKS_SKIP : symlinks;
            if (!policy.equals(Vm.SYMLINKS_SKIP) && !policy.equals(Vm.SYMLINKS_COPY)) {
                throw new IllegalArgumentException("unknown --symlinks '" + policy + "' (expected skip or copy)");
            }
            Vm vm = context.catalog().createVm(name, type.id(), bytes, policy);
            if (context.json()) {
                Output.json(context.out(), vm);
            } else {
                context.out().println("created VM " + vm.name() + " (" + vm.fsType() + ", " + Sizes.format(vm.sizeBytes()) + ")");
            }
            return 0;
        }
    }

    @Command(name = "assign", description = "Assign apps to a VM (APP pins the newest version).")
    static final class Assign implements Callable<Integer> {
        private final Context context;
        @Parameters(index = "0", paramLabel = "VM")
        String vmName;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "APP[@VER]")
        List<String> apps;
        @Option(names = "--priority", paramLabel = "N", defaultValue = "0", description = "higher wins when two apps provide the same path (default: ${DEFAULT-VALUE})")
        int priority;

        Assign(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            var catalog = context.catalog();
            List<String> names = new ArrayList<>();
            // Read, change and store in one write session: a change another process commits meanwhile (a new
            // generation, another assignment) is neither lost nor overwritten.
            Vm vm = catalog.write(() -> {
                Vm changed = catalog.requireVm(vmName);
                for (String spec : apps) {
                    AppVersion app = catalog.resolve(spec);
                    if (names.contains(app.name())) {
                        throw new CatalogException("app '" + app.name() + "' is named twice");
                    }
                    names.add(app.name());
                    changed = changed.withAssignment(new Vm.Assignment(app.name(), app.version(), priority));
                }
                catalog.putVm(changed);
                return changed;
            });
            for (String name : names) {
                context.out().println("assigned " + vm.assignment(name).orElseThrow().label() + " to " + vm.name()
                        + " (priority " + priority + ")");
            }
            return 0;
        }
    }

    @Command(name = "unassign", description = "Take apps off a VM.")
    static final class Unassign implements Callable<Integer> {
        private final Context context;
        @Parameters(index = "0", paramLabel = "VM")
        String vmName;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "APP")
        List<String> apps;

        Unassign(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            var catalog = context.catalog();
            catalog.write(() -> {
                Vm vm = catalog.requireVm(vmName);
                for (String spec : apps) {
                    String name = spec.contains("@") ? spec.substring(0, spec.indexOf('@')) : spec;
                    if (vm.assignment(name).isEmpty()) {
                        throw new CatalogException("app '" + name + "' is not assigned to VM '" + vmName + "'");
                    }
                    vm = vm.withoutAssignment(name);
                }
                catalog.putVm(vm);
                return null;
            });
            context.out().println("unassigned " + String.join(", ", apps) + " from " + vmName);
            return 0;
        }
    }

    @Command(name = "list", description = "List VMs.")
    static final class ListCmd implements Callable<Integer> {
        private final Context context;

        ListCmd(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            List<Vm> vms = context.catalog().vms();
            if (context.json()) {
                Output.json(context.out(), vms);
                return 0;
            }
            Output.Table table = new Output.Table("VM", "FS", "SIZE", "APPS", "GENERATION", "CREATED").right(2, 3, 4);
            for (Vm vm : vms) {
                table.row(vm.name(), vm.fsType(), Sizes.format(vm.sizeBytes()), vm.apps().size(),
                        vm.currentGeneration() == 0 ? "-" : vm.currentGeneration(), Output.time(vm.createdAt() * 1000));
            }
            table.print(context.out());
            return 0;
        }
    }

    @Command(name = "show", description = "Show a VM, its apps and generations.")
    static final class Show implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String vmName;

        Show(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Vm vm = context.catalog().requireVm(vmName);
            if (context.json()) {
                Output.json(context.out(), vm);
                return 0;
            }
            var out = context.out();
            out.println("VM " + vm.name() + ": " + vm.fsType() + ", " + Sizes.format(vm.sizeBytes()) + ", created "
                    + Output.time(vm.createdAt() * 1000)
                    + (FsType.FAT32.id().equals(vm.fsType()) ? ", symlinks: " + vm.symlinks() : ""));
            out.println("current generation: " + (vm.currentGeneration() == 0 ? "none (run 'dcd disk build " + vm.name() + "')"
                    : vm.currentGeneration()) + ", " + vm.generations().size() + " generation(s) kept");
            if (vm.apps().isEmpty()) {
                out.println("no apps assigned");
            } else {
                Output.Table table = new Output.Table("APP", "VERSION", "PRIORITY", "FILES", "SIZE").right(2, 3, 4);
                for (Vm.Assignment a : vm.apps()) {
                    var app = context.catalog().app(a.app(), a.version());
                    table.row(a.app(), a.version(), a.priority(), app.map(x -> String.valueOf(x.fileCount())).orElse("?"),
                            app.map(x -> Sizes.format(x.byteCount())).orElse("?"));
                }
                table.print(out);
            }
            return 0;
        }
    }

    @Command(name = "rm", description = "Remove a VM and its disk generations (with guest writes only with --force).")
    static final class Rm implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "VM")
        String vmName;
        @Option(names = "--force", description = "remove the VM even though generations hold guest writes, which are lost")
        boolean force;

        Rm(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            var catalog = context.catalog();
            // One write session: no build of this VM can commit between the checks, the removal and the delete.
            catalog.write(() -> {
                Vm vm = catalog.requireVm(vmName);
                Path mountpoint = StatsCommand.mountedVms(context.home()).get(vmName);
                if (mountpoint != null) {
                    throw new dev.dcd.catalog.CatalogException("VM '" + vmName + "' is mounted at " + mountpoint
                            + "; 'dcd umount " + mountpoint + "' first");
                }
                if (!force) {
                    List<String> held = new ArrayList<>();
                    for (Vm.Generation g : vm.generations()) {
                        long bytes = DiskCommands.guestWriteBytes(context, vm, g);
                        if (bytes > 0) {
                            held.add("generation " + g.number() + " (" + Sizes.format(bytes) + ")");
                        }
                    }
                    if (!held.isEmpty()) {
                        throw new CatalogException("VM '" + vmName + "' holds guest writes in " + String.join(", ", held)
                                + ", which removing it deletes for good; save them with 'dcd disk export " + vmName
                                + " FILE --generation N', or pass --force to remove it anyway");
                    }
                }
                catalog.removeVm(vmName);
                deleteTree(context.vmDir(vmName));
                return null;
            });
            context.out().println("removed VM " + vmName);
            return 0;
        }
    }

    static void deleteTree(Path root) throws IOException {
        dev.dcd.service.FileTrees.deleteTree(root);
    }
}
