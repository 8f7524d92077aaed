package dev.dcd.nbd;

import dev.dcd.mount.MountContext;
import dev.dcd.mount.MountException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;
import java.util.function.BooleanSupplier;

/** {@code dcd serve VM --nbd …} and {@code dcd serve --stop VM}. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Export a VM's disk over NBD (the network block device protocol) to qemu, nbd-client, nbdcopy…",
                "The export is named after the VM; writes go to the VM's overlay like writes through a mount.",
                "Examples:",
                "  dcd serve web1 --nbd --background",
                "  qemu-system-x86_64 -m 1G -drive file=nbd+unix:///web1?socket=$HOME/.dcd/run/web1.sock,format=raw,if=virtio",
                "  dcd serve web1 --nbd tcp://127.0.0.1:10809",
                "  dcd serve --stop web1"})
public final class ServeCommand implements Callable<Integer> {
    private final MountContext context;
    private final BooleanSupplier json;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "VM", description = "the VM whose disk to export")
    String vm;

    @Option(names = "--nbd", arity = "0..1", paramLabel = "ADDRESS", fallbackValue = "",
            description = "unix:PATH (owner-only socket) or tcp://HOST:PORT (port 0 picks one);"
                    + " default: unix:$DCD_HOME/run/VM.sock")
    String nbd;

    @Option(names = "--background", description = "serve from a detached process and return once it accepts clients")
    boolean background;

    @Option(names = "--read-only", description = "refuse clients' writes (the generation stays held: no other server writes it meanwhile)")
    boolean readOnly;

    @Option(names = "--stop", description = "stop the server of VM")
    boolean stop;

    public ServeCommand(MountContext context, BooleanSupplier json) {
        this.context = context;
        this.json = json;
    }

    @Override
    public Integer call() {
        ServeService service = new ServeService(context, spec.commandLine().getOut(), json.getAsBoolean());
        try {
            if (stop) {
                if (nbd != null || background || readOnly) {
                    spec.commandLine().getErr().println("dcd: --stop takes only the VM name");
                    return 2;
                }
                service.stop(vm);
                return 0;
            }
            NbdEndpoint endpoint;
            try {
                endpoint = nbd == null || nbd.isEmpty() ? service.defaultEndpoint(vm) : NbdEndpoint.parse(nbd);
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println("dcd: " + e.getMessage());
                return 2;
            }
            service.serve(vm, endpoint, background, readOnly);
            return 0;
        } catch (MountException e) {
            spec.commandLine().getErr().println("dcd: " + e.getMessage());
            return 1;
        }
    }
}
