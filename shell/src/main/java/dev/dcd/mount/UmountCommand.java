package dev.dcd.mount;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dcd umount MOUNTPOINT}: register with {@code root.addSubcommand(new UmountCommand(context))}. */
@Command(name = "umount", mixinStandardHelpOptions = true,
        description = {"Unmount a VM's disk; refuses, naming the user, while a loop device or process holds it."})
public final class UmountCommand implements Callable<Integer> {
    private final MountContext context;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    public UmountCommand(MountContext context) {
        this.context = context;
    }

    @Override
    public Integer call() {
        try {
            new MountService(context, spec.commandLine().getOut()).umount(mountpoint);
            return 0;
        } catch (MountException e) {
            spec.commandLine().getErr().println("dcd: " + e.getMessage());
            return 1;
        }
    }
}
