package dev.dcd.mount;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * The hidden {@code mount-serve} subcommand that {@code dcd mount} starts detached; it serves until unmounted.
 * Register with {@code root.addSubcommand(new MountServeCommand(context))}.
 */
@Command(name = MountService.SERVE_COMMAND, hidden = true,
        description = "Serve a FUSE mount in this process (started by dcd mount).")
public final class MountServeCommand implements Callable<Integer> {
    private final MountContext context;

    @Parameters(index = "0", paramLabel = "VM")
    String vm;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Option(names = "--allow-other")
    boolean allowOther;

    @Option(names = "--generation")
    int generation;

    @Option(names = "--nbd")
    String nbd;

    /** Be the supervisor of a supervised mount: hold the FUSE connection, run servers, restart them. */
    @Option(names = "--supervise")
    boolean supervise;

    /** Be a server of a supervised mount: the FUSE connection is this process's stdin. */
    @Option(names = "--inherited-fuse")
    boolean inheritedFuse;

    public MountServeCommand(MountContext context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        try {
            MountService service = new MountService(context, new java.io.PrintWriter(System.out, true));
            if (supervise) {
                service.supervise(vm, mountpoint, allowOther, generation);
            } else if (inheritedFuse) {
                service.serveInherited(vm, mountpoint, generation);
            } else {
                service.withNbd(nbd).serve(vm, mountpoint, allowOther, generation);
            }
            return 0;
        } catch (MountException e) {
            System.err.println("dcd mount-serve: " + e.getMessage());
            return 1;
        }
    }
}
