package dev.dcd.backend.nfs;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.byref.PointerByReference;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The part of libnfs 4.0 (Debian {@code libnfs13}) the backend uses, bound with jnr-ffi: the synchronous API for
 * setting up a context and for calls that never wait on the network, the asynchronous API (with a callback into
 * Java and {@code poll(2)}, from libc) for every call that does.
 *
 * <p>Why not the synchronous API for those too: libnfs 4.0's {@code nfs_pread} and friends keep their reply state
 * on the C stack, and when the connection breaks with an error or hang-up (a server killed mid-call resets it)
 * they return while the request is still queued with a pointer to that stack. {@code nfs_destroy_context} later
 * cancels the request and its callback writes into whatever frames live there by then: the JVM died with SIGSEGV
 * in {@code nfs_destroy_context}. The asynchronous calls hand libnfs a Java callback instead, which stays valid
 * for as long as the context does.
 *
 * <p>The library is loaded by its soname, {@code libnfs.so.13}, never by the unversioned {@code libnfs.so} (which
 * only the -dev package has): later major versions reorder {@code nfs_pread}'s arguments, so a different soname
 * must not load. A context is not thread-safe; {@link NfsSession} gives each worker thread its own.
 */
final class LibNfs {
    static final String SONAME = "libnfs.so.13";
    /** Overrides where the library is looked for (a full path), for machines that keep it elsewhere. */
    static final String PATH_PROPERTY = "dcd.libnfs";
    private static final List<String> DIRS = List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu");

    // fcntl.h flags as libnfs expects them (Linux values).
    static final int O_RDONLY = 0;
    static final int O_WRONLY = 1;
    static final int O_CREAT = 0100;
    static final int O_EXCL = 0200;
    static final int O_TRUNC = 01000;

    // errno values libnfs returns negated (Linux).
    static final int ENOENT = 2;
    static final int EIO = 5;
    static final int EACCES = 13;
    static final int EEXIST = 17;
    static final int ENOTDIR = 20;
    static final int EISDIR = 21;
    static final int ENOSPC = 28;
    static final int EROFS = 30;
    static final int ETIMEDOUT = 110;
    static final int ESTALE = 116;
    static final int EPERM = 1;

    /** Offset of {@code nfs_size} in {@code struct nfs_stat_64}: the eighth uint64_t. */
    static final int STAT_SIZE = 7 * 8;
    /** {@code struct nfs_stat_64} is 21 uint64_t; room to spare. */
    static final int STAT_BYTES = 32 * 8;
    /** {@code struct nfsdirent}: next pointer, name pointer, inode, then type and mode (u32), then size. */
    static final int DIRENT_NEXT = 0;
    static final int DIRENT_NAME = 8;
    static final int DIRENT_TYPE = 24;
    static final int DIRENT_SIZE = 32;
    /** {@code nfsdirent.mtime.tv_sec}: after size come atime then mtime, each a 16-byte struct timeval. */
    static final int DIRENT_MTIME_SECONDS = 56;
    /** {@code NF3REG} in {@code nfsdirent.type}. */
    static final int NF3REG = 1;

    /** {@code poll(2)} events (Linux values); {@code struct pollfd} is an int fd then two shorts. */
    static final int POLLIN = 0x001;
    static final int POLLFD_FD = 0;
    static final int POLLFD_EVENTS = 4;
    static final int POLLFD_REVENTS = 6;
    static final int POLLFD_BYTES = 8;

    /** {@code nfs_cb}: err is a negated errno, or the call's result; data is its data, or an error string. */
    public interface Callback {
        @Delegate
        void invoke(int err, Pointer nfs, Pointer data, Pointer privateData);
    }

    /** The one libc function the asynchronous API needs. */
    public interface Libc {
        int poll(Pointer fds, long nfds, int timeoutMillis);
    }

    /** The functions, named and typed as in {@code nfsc/libnfs.h} of libnfs 4.0.0. */
    public interface Api {
        Pointer nfs_init_context();

        void nfs_destroy_context(Pointer nfs);

        String nfs_get_error(Pointer nfs);

        /** Milliseconds, in whole seconds (the header says so); -1 waits forever, which is never what we want. */
        void nfs_set_timeout(Pointer nfs, int milliseconds);

        void nfs_set_autoreconnect(Pointer nfs, int retries);

        void nfs_set_uid(Pointer nfs, int uid);

        void nfs_set_gid(Pointer nfs, int gid);

        Pointer nfs_parse_url_dir(Pointer nfs, String url);

        void nfs_destroy_url(Pointer url);

        int nfs_mount(Pointer nfs, String server, String export);

        long nfs_get_readmax(Pointer nfs);

        long nfs_get_writemax(Pointer nfs);

        int nfs_open(Pointer nfs, String path, int flags, PointerByReference fh);

        int nfs_create(Pointer nfs, String path, int flags, int mode, PointerByReference fh);

        int nfs_close(Pointer nfs, Pointer fh);

        int nfs_pread(Pointer nfs, Pointer fh, long offset, long count, ByteBuffer buf);

        int nfs_pwrite(Pointer nfs, Pointer fh, long offset, long count, ByteBuffer buf);

        int nfs_fsync(Pointer nfs, Pointer fh);

        int nfs_stat64(Pointer nfs, String path, Pointer stat);

        int nfs_rename(Pointer nfs, String oldPath, String newPath);

        int nfs_unlink(Pointer nfs, String path);

        int nfs_mkdir(Pointer nfs, String path);

        int nfs_opendir(Pointer nfs, String path, PointerByReference dir);

        Pointer nfs_readdir(Pointer nfs, Pointer dir);

        void nfs_closedir(Pointer nfs, Pointer dir);

        int nfs_get_fd(Pointer nfs);

        int nfs_which_events(Pointer nfs);

        int nfs_service(Pointer nfs, int revents);

        int nfs_open_async(Pointer nfs, String path, int flags, Callback cb, Pointer privateData);

        int nfs_create_async(Pointer nfs, String path, int flags, int mode, Callback cb, Pointer privateData);

        int nfs_close_async(Pointer nfs, Pointer fh, Callback cb, Pointer privateData);

        int nfs_pread_async(Pointer nfs, Pointer fh, long offset, long count, Callback cb, Pointer privateData);

        int nfs_pwrite_async(Pointer nfs, Pointer fh, long offset, long count, Pointer buf, Callback cb,
                             Pointer privateData);

        int nfs_fsync_async(Pointer nfs, Pointer fh, Callback cb, Pointer privateData);

        int nfs_stat64_async(Pointer nfs, String path, Callback cb, Pointer privateData);

        int nfs_rename_async(Pointer nfs, String oldPath, String newPath, Callback cb, Pointer privateData);

        int nfs_unlink_async(Pointer nfs, String path, Callback cb, Pointer privateData);

        int nfs_opendir_async(Pointer nfs, String path, Callback cb, Pointer privateData);
    }

    private static volatile LibNfs instance;
    private static volatile String failure;

    private final Api api;
    private final Libc libc;
    private final Runtime runtime;

    private LibNfs(Api api, Libc libc) {
        this.api = api;
        this.libc = libc;
        this.runtime = Runtime.getRuntime(api);
    }

    /** The loaded library, or a one-line {@link UnavailableException} that says what to install. */
    static LibNfs get() throws UnavailableException {
        LibNfs lib = instance;
        if (lib != null) {
            return lib;
        }
        synchronized (LibNfs.class) {
            if (instance != null) {
                return instance;
            }
            if (failure != null) {
                throw new UnavailableException(failure);
            }
            try {
                instance = load(locate());
                return instance;
            } catch (UnavailableException e) {
                failure = e.getMessage();
                throw e;
            }
        }
    }

    /** Loads the library at {@code path}; null (not found) or a library that will not load is one clear line. */
    static LibNfs load(Path path) throws UnavailableException {
        if (path == null) {
            throw new UnavailableException("libnfs 4 (" + SONAME + ") is not installed; install it with 'apt-get install libnfs13'");
        }
        try {
            return new LibNfs(LibraryLoader.create(Api.class).failImmediately().load(path.toString()),
                    LibraryLoader.create(Libc.class).failImmediately().load("c"));
        } catch (LinkageError | RuntimeException e) {
            throw new UnavailableException("libnfs at " + path + " could not be loaded (" + e.getClass().getSimpleName()
                    + "); install libnfs 4 with 'apt-get install libnfs13'");
        }
    }

    private static Path locate() {
        String override = System.getProperty(PATH_PROPERTY);
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override);
            return Files.isRegularFile(p) ? p : null;
        }
        for (String dir : DIRS) {
            Path p = Path.of(dir, SONAME);
            if (Files.exists(p)) {
                return p;
            }
        }
        return null;
    }

    Api api() {
        return api;
    }

    Libc libc() {
        return libc;
    }

    Runtime runtime() {
        return runtime;
    }

    /** libnfs missing or unloadable: the message is the whole story, one line. */
    static final class UnavailableException extends java.io.IOException {
        UnavailableException(String message) {
            super(message);
        }
    }
}
