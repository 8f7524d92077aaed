package dev.dcd.shell;

import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.service.VmService;
import dev.dcd.service.Views;
import dev.dcd.synth.FsType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "vm", description = "Create VMs and choose the apps on their disks.",
        subcommands = {VmCommands.Create.class, VmCommands.Assign.class, VmCommands.Unassign.class,
                VmCommands.ListCmd.class, VmCommands.Show.class, VmCommands.Rm.class})
final class VmCommands {
    /** The smallest disk a synthesizer accepts (DiskSpec's rule). */
    static final long MIN_SIZE = VmService.MIN_SIZE;

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
            Vm vm = new VmService(context.environment()).create(name, fs, size, symlinks);
            if (context.json()) {
                Output.json(context.out(), vm);
            } else {
                printCreated(context.out(), vm);
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
            List<Vm.Assignment> made = new VmService(context.environment()).assign(vmName, apps, priority);
            printAssigned(context.out(), vmName, made, priority);
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
            new VmService(context.environment()).unassign(vmName, apps);
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
            List<Vm> vms = new VmService(context.environment()).list();
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
            Views.VmDetail detail = new VmService(context.environment()).show(vmName);
            if (context.json()) {
                Output.json(context.out(), detail.vm());
                return 0;
            }
            print(context.out(), detail);
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
            new VmService(context.environment()).remove(vmName, force);
            context.out().println("removed VM " + vmName);
            return 0;
        }
    }

    static void printCreated(PrintWriter out, Vm vm) {
        out.println("created VM " + vm.name() + " (" + vm.fsType() + ", " + Sizes.format(vm.sizeBytes()) + ")");
    }

    static void printAssigned(PrintWriter out, String vm, List<Vm.Assignment> made, int priority) {
        for (Vm.Assignment a : made) {
            out.println("assigned " + a.label() + " to " + vm + " (priority " + priority + ")");
        }
    }

    /** {@code vm show} as text: what the demo shows too. */
    static void print(PrintWriter out, Views.VmDetail detail) {
        Vm vm = detail.vm();
        out.println("VM " + vm.name() + ": " + vm.fsType() + ", " + Sizes.format(vm.sizeBytes()) + ", created "
                + Output.time(vm.createdAt() * 1000)
                + (FsType.FAT32.id().equals(vm.fsType()) ? ", symlinks: " + vm.symlinks() : ""));
        out.println("current generation: " + (vm.currentGeneration() == 0 ? "none (run 'dcd disk build " + vm.name() + "')"
                : vm.currentGeneration()) + ", " + vm.generations().size() + " generation(s) kept");
        if (detail.apps().isEmpty()) {
            out.println("no apps assigned");
            return;
        }
        Output.Table table = new Output.Table("APP", "VERSION", "PRIORITY", "FILES", "SIZE").right(2, 3, 4);
        for (Views.AssignedApp assigned : detail.apps()) {
            Vm.Assignment a = assigned.assignment();
            table.row(a.app(), a.version(), a.priority(), assigned.app().map(x -> String.valueOf(x.fileCount())).orElse("?"),
                    assigned.app().map(x -> Sizes.format(x.byteCount())).orElse("?"));
        }
        table.print(out);
    }

    static void deleteTree(Path root) throws IOException {
        dev.dcd.service.FileTrees.deleteTree(root);
    }
}
