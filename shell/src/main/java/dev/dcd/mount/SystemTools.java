package dev.dcd.mount;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What mounting needs from the machine, checked before anything starts, so that a machine lacking it gets one
 * line naming the missing piece and the package to install instead of a serving process dying in a log.
 *
 * <p>The library is looked up exactly as jnr-fuse will (jnr-ffi, the same name), so a pass here means the
 * serving process finds it too. Executables are looked up on {@code PATH} of the environment dcd runs in.
 */
public final class SystemTools {
    /** The shared library jnr-fuse loads on Linux. */
    public static final String LIBFUSE = "libfuse.so.2";
    /** Names another library to look up instead of {@link #LIBFUSE}: how tests play a machine without it. */
    public static final String LIBFUSE_ENV = "DCD_LIBFUSE";

    private final String libfuse;
    private final String path;

    private SystemTools(String libfuse, String path) {
        this.libfuse = libfuse;
        this.path = path;
    }

    /** The checks for the environment {@code env} ({@value #LIBFUSE_ENV}; {@code PATH}, else this process's). */
    public static SystemTools of(Map<String, String> env) {
        String lib = env.get(LIBFUSE_ENV);
        String path = env.containsKey("PATH") ? env.get("PATH") : System.getenv().getOrDefault("PATH", "");
        return new SystemTools(lib == null || lib.isBlank() ? LIBFUSE : lib, path);
    }

    /** What {@code dcd mount} needs: libfuse2, and fusermount to unmount (and to mount when not root). */
    public void requireMount() throws MountException {
        requireLibfuse();
        requireTool("fusermount", "fuse3");
    }

    /** What {@code dcd umount} needs: fusermount, and losetup to name a loop device that holds the disk. */
    public void requireUmount() throws MountException {
        requireTool("fusermount", "fuse3");
        requireTool("losetup", "mount");
    }

    /** Fails with one line when libfuse2 cannot be loaded. */
    public void requireLibfuse() throws MountException {
        try {
            jnr.ffi.LibraryLoader.create(Probe.class).failImmediately().load(libfuse);
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new MountException("libfuse2 is not installed (" + libfuse + " not found); install it with: "
                    + "apt-get install libfuse2");
        }
    }

    /** Fails with one line when {@code tool} is not an executable on PATH. */
    public void requireTool(String tool, String debianPackage) throws MountException {
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return;
            }
        }
        throw new MountException(tool + " is not installed (not on PATH); install it with: apt-get install "
                + debianPackage);
    }

    /** One function of libfuse2, enough for jnr-ffi to open the library and bind a symbol. */
    public interface Probe {
        int fuse_version();
    }
}
