package dev.dcd.mount;

import java.nio.file.Path;
import java.util.List;

/**
 * What the mount commands need from the application, so that registering them is one line:
 * {@code new MountCommand(context)}.
 */
public interface MountContext {

    /** $DCD_HOME: pid files go to {@code mounts/}, serving logs to {@code log/}. */
    Path dcdHome();

    /** Opens VMs by name. */
    MountSourceFactory sources();

    /**
     * The command line, up to and excluding the subcommand, that starts this application again; the serving
     * process runs {@code <prefix> mount-serve VM MOUNTPOINT}. The default re-executes the same java with the
     * same class path and main class.
     */
    default List<String> relaunchPrefix() {
        return Relaunch.sameJvm();
    }

    /** The machine's libraries and tools, checked before a mount starts; by default in this process's environment. */
    default SystemTools tools() {
        return SystemTools.of(System.getenv());
    }

    /** The usual context: {@code MountContext.of(home, vm -> ...)}. */
    static MountContext of(Path dcdHome, MountSourceFactory sources) {
        return new MountContext() {
            @Override
            public Path dcdHome() {
                return dcdHome;
            }

            @Override
            public MountSourceFactory sources() {
                return sources;
            }
        };
    }
}
