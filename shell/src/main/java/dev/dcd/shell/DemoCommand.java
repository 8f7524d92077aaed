package dev.dcd.shell;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Vm;
import dev.dcd.mount.MountException;
import dev.dcd.mount.MountService;
import dev.dcd.service.BuildService;
import dev.dcd.service.DemoService;
import dev.dcd.service.ServiceException;
import dev.dcd.service.Views;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code dcd demo}: runs {@link DemoService} and prints each step as the matching command would (the same
 * renderers), with mounting through the same {@link MountService} as {@code dcd mount}.
 */
@Command(name = "demo", description = {"Import the sample apps, create VM 'demo', assign them, build its disk, mount it",
        "under $DCD_HOME/mnt/demo and show it (idempotent)."})
final class DemoCommand implements Callable<Integer> {
    private final Context context;
    @Option(names = "--samples", paramLabel = "DIR", description = "sample apps (default: $DCD_SAMPLES, else ./samples)")
    Path samples;
    @Option(names = "--no-mount", description = "stop after building the disk (for machines without FUSE)")
    boolean noMount;
    @Option(names = "--size", paramLabel = "SIZE", defaultValue = "1G", description = "size of the demo VM's disk (default: ${DEFAULT-VALUE})")
    String size;

    DemoCommand(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws Exception {
        Path dir = samples != null ? samples : Path.of(context.env().getOrDefault("DCD_SAMPLES", "samples"));
        VmMounts vmMounts = new VmMounts(context);
        DemoService.Mounts mounts = new DemoService.Mounts() {
            @Override
            public void mount(String vm, Path mountpoint) throws IOException {
                // The serving process reads the catalog itself; this one lets go of it while the mount lives.
                context.releaseCatalog();
                try {
                    new MountService(vmMounts, context.out()).mount(vm, mountpoint, false, false);
                } catch (MountException e) {
                    throw new ServiceException(e.getMessage(), e);
                }
            }

            @Override
            public void umount(Path mountpoint) throws IOException {
                try {
                    new MountService(vmMounts, context.out()).umount(mountpoint);
                } catch (MountException e) {
                    throw new ServiceException(e.getMessage(), e);
                }
            }
        };
        new DemoService(context.environment(), mounts, new Narration()).run(new DemoService.Options(dir, size, !noMount));
        return 0;
    }

    /** Prints the demo's steps with the commands' own renderers. */
    private final class Narration implements DemoService.Narrator {
        private final PrintWriter out = context.out();

        @Override
        public void say(String line) {
            out.println(line);
        }

        @Override
        public void created(Vm vm) {
            VmCommands.printCreated(out, vm);
        }

        @Override
        public void assigned(String vm, List<Vm.Assignment> made, int priority) {
            VmCommands.printAssigned(out, vm, made, priority);
        }

        @Override
        public void catalog(List<AppVersion> apps) {
            CatalogCommands.printApps(out, apps);
        }

        @Override
        public void vm(Views.VmDetail detail) {
            VmCommands.print(out, detail);
        }

        @Override
        public void built(String vm, BuildService.Built built) {
            DiskCommands.printBuilt(context, vm, built);
        }

        @Override
        public void stat(Views.DiskStat stat) {
            DiskCommands.print(out, stat);
        }

        @Override
        public void toolOutput(String text) {
            out.print(text);
            out.flush();
        }
    }
}
