package dev.dcd.tests.mount;

import dev.dcd.mount.FileMountSource;
import dev.dcd.mount.MountCommand;
import dev.dcd.mount.MountContext;
import dev.dcd.mount.MountServeCommand;
import dev.dcd.mount.MountSource;
import dev.dcd.mount.MountSourceFactory;
import dev.dcd.mount.UmountCommand;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.support.ForwardingMountSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The mount commands registered the way the real root command will register them, over VMs that are plain
 * image files: $DCD_HOME/vms/VM/{disk.img, files.idx, disk.vmdk}. The serving process re-executes this class.
 */
@Command(name = "dcd")
public final class TestDcd {

    /**
     * {@code DCD_TEST_LOCAL_ONLY=1} (inherited by every process of a mount): the image counts as a local source, so a
     * supervised server runs the local loop (4 threads, {@code LowLevelServer.ReadTurn}, no I/O hand-off) the way a VM
     * with local apps does; by default a plain image counts as remote.
     */
    private static final boolean LOCAL_ONLY = "1".equals(System.getenv("DCD_TEST_LOCAL_ONLY"));

    private static final class LocalOnly extends ForwardingMountSource {
        LocalOnly(MountSource inner) {
            super(inner);
        }

        @Override
        public boolean localOnly() {
            return true;
        }
    }

    static MountContext context(Path home) {
        MountSourceFactory sources = vm -> {
            Path dir = home.resolve("vms").resolve(vm);
            Path image = dir.resolve("disk.img");
            if (!Files.isRegularFile(image)) {
                throw new IOException("VM " + vm + " has no built disk (run dcd build " + vm + " first)");
            }
            MountSource source = HungBackend.wrapIfConfigured(FileMountSource.open(vm, image,
                    FileIndex.load(dir.resolve(FileIndex.FILE_NAME)), Files.readString(dir.resolve("disk.vmdk"))), dir);
            return LOCAL_ONLY ? new LocalOnly(source) : source;
        };
        return new MountContext() {
            @Override
            public Path dcdHome() {
                return home;
            }

            @Override
            public MountSourceFactory sources() {
                return sources;
            }

            @Override
            public List<String> relaunchPrefix() {
                return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Dfile.encoding=UTF-8", "-cp", System.getProperty("java.class.path"), TestDcd.class.getName(),
                        "--home", home.toString());
            }
        };
    }

    static CommandLine commandLine(Path home) {
        MountContext ctx = context(home);
        return new CommandLine(new TestDcd())
                .addSubcommand(new MountCommand(ctx))
                .addSubcommand(new UmountCommand(ctx))
                .addSubcommand(new MountServeCommand(ctx));
    }

    public static void main(String[] args) {
        if (args.length < 2 || !args[0].equals("--home")) {
            System.err.println("usage: TestDcd --home DIR COMMAND ...");
            System.exit(2);
        }
        String[] rest = java.util.Arrays.copyOfRange(args, 2, args.length);
        System.exit(commandLine(Path.of(args[1])).execute(rest));
    }
}
