package dev.dcd.nbd;

import dev.dcd.mount.MountContext;
import dev.dcd.mount.MountException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** The hidden {@code nbd-serve} subcommand that {@code dcd serve --background} starts detached. */
@Command(name = ServeService.SERVE_COMMAND, hidden = true, description = "Serve NBD in this process (started by dcd serve).")
public final class ServeRunCommand implements Callable<Integer> {
    private final MountContext context;

    @Parameters(index = "0", paramLabel = "VM")
    String vm;

    @Parameters(index = "1", paramLabel = "ADDRESS")
    String address;

    @Option(names = "--read-only")
    boolean readOnly;

    public ServeRunCommand(MountContext context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        try {
            new ServeService(context, new PrintWriter(System.out, true), false)
                    .serveDetached(vm, NbdEndpoint.parse(address), readOnly);
            return 0;
        } catch (MountException | IllegalArgumentException e) {
            System.err.println("dcd nbd-serve: " + e.getMessage());
            return 1;
        }
    }
}
