package dev.dcd.mount;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dcd mount VM MOUNTPOINT}: register with {@code root.addSubcommand(new MountCommand(context))}. */
@Command(name = "mount", mixinStandardHelpOptions = true,
        description = {"Mount a VM's dynamic content disk with FUSE and return once it answers.",
                "MOUNTPOINT then holds disk.img (read-write), disk.vmdk, stats.json and files/ (read-only)."})
public final class MountCommand implements Callable<Integer> {
    private final MountContext context;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "VM", description = "the VM whose disk to mount")
    String vm;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT", description = "an empty directory")
    Path mountpoint;

    @Option(names = "--foreground", description = "serve in this process until Ctrl-C, which unmounts")
    boolean foreground;

    @Option(names = "--allow-other", description = "let users other than you and root enter the mount"
            + " (file modes still apply)")
    boolean allowOther;

    @Option(names = "--generation", paramLabel = "GEN", description = "serve an older disk generation instead of"
            + " the current one (its guest writes, and new ones, stay in it)")
    Integer generation;

    @Option(names = "--nbd", arity = "0..1", paramLabel = "ADDRESS", fallbackValue = "",
            description = "also export the disk over NBD from the same process and chain: unix:PATH or"
                    + " tcp://HOST:PORT (default unix:$DCD_HOME/run/VM.sock); see dcd serve")
    String nbd;

    @Option(names = "--supervised", description = "require a supervised mount (the default): fail instead"
            + " of falling back to one serving process")
    boolean supervised;

    @Option(names = "--unsupervised", description = "serve in one process without a supervisor, for diagnosis: if it"
            + " dies the mount goes stale until the next dcd mount (also DCD_MOUNT_SUPERVISED=0)")
    boolean unsupervised;

    public MountCommand(MountContext context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        try {
            if (supervised && unsupervised) {
                throw new MountException("--supervised and --unsupervised exclude each other");
            }
            MountService.Supervise mode = supervised ? MountService.Supervise.REQUIRED
                    : unsupervised ? MountService.Supervise.OFF : MountService.Supervise.DEFAULT;
            new MountService(context, spec.commandLine().getOut()).withNbd(nbd).supervision(mode)
                    .mount(vm, mountpoint, foreground, allowOther, generation == null ? 0 : generation);
            return 0;
        } catch (MountException e) {
            spec.commandLine().getErr().println("dcd: " + e.getMessage());
            return 1;
        }
    }
}
