package dev.dcd.backend.nfs;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.byref.PointerByReference;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One libnfs context, mounted: a TCP connection to the server with its own RPC state. Not thread-safe (libnfs
 * contexts are not: a shared one returned wrong data in testing), so each worker thread owns one, and a session
 * that failed is closed and replaced rather than trusted again.
 *
 * <p>Paths are relative to the mounted directory and start with '/'. Open read handles are kept (a few dozen,
 * least recently used closed first); a handle the server no longer knows (ESTALE, after a server restart that
 * lost its handle table) is looked up again once, transparently.
 */
final class NfsSession implements AutoCloseable {
    /** NFSv3 READ and WRITE carry at most 1 MiB each (libnfs 4 caps them there too). */
    static final int MAX_IO = 1024 * 1024;
    private static final int MAX_HANDLES = 64;
    private static final java.util.regex.Pattern MOUNT_REFUSED = java.util.regex.Pattern.compile("(MNT3ERR_[A-Z_]+)");

    private final LibNfs lib;
    private final LibNfs.Api api;
    private final Pointer ctx;
    private final Pointer statBuf;
    private final int readMax;
    private final int writeMax;
    private final LinkedHashMap<String, Pointer> handles = new LinkedHashMap<>(16, 0.75f, true);
    private boolean closed;

    private NfsSession(LibNfs lib, Pointer ctx) {
        this.lib = lib;
        this.api = lib.api();
        this.ctx = ctx;
        this.statBuf = Memory.allocateDirect(lib.runtime(), LibNfs.STAT_BYTES);
        this.readMax = (int) Math.max(4096, Math.min(MAX_IO, api.nfs_get_readmax(ctx)));
        this.writeMax = (int) Math.max(4096, Math.min(MAX_IO, api.nfs_get_writemax(ctx)));
    }

    /** Creates a context, points it at the server and mounts the configured directory. */
    static NfsSession connect(LibNfs lib, NfsConfig config) throws NfsError {
        LibNfs.Api api = lib.api();
        Pointer ctx = api.nfs_init_context();
        if (ctx == null) {
            throw new NfsError("init", config.dir(), LibNfs.EIO, "libnfs could not create a context");
        }
        boolean ok = false;
        try {
            // Without a timeout a call to a hung server never returns; the retry loop above owns reconnecting.
            api.nfs_set_timeout(ctx, config.rpcTimeoutMillis());
            api.nfs_set_autoreconnect(ctx, 0);
            config.uid().ifPresent(uid -> api.nfs_set_uid(ctx, uid));
            config.gid().ifPresent(gid -> api.nfs_set_gid(ctx, gid));
            Pointer url = api.nfs_parse_url_dir(ctx, config.libnfsUrl());
            if (url == null) {
                throw new NfsError("parse", config.dir(), LibNfs.EIO, "libnfs rejected the URL: " + error(api, ctx));
            }
            api.nfs_destroy_url(url);
            int rc = api.nfs_mount(ctx, config.host(), config.dir());
            if (rc < 0) {
                String detail = error(api, ctx);
                java.util.regex.Matcher refused = MOUNT_REFUSED.matcher(detail);
                if (refused.find()) {
                    // The server answered and said no: say what a user can check, not libnfs's call chain.
                    throw new NfsError("mount", config.dir(), -rc, "the server refused it (" + refused.group(1)
                            + "): the path must be an existing directory inside an export this host may mount", true);
                }
                throw new NfsError("mount", config.dir(), -rc, detail);
            }
            NfsSession session = new NfsSession(lib, ctx);
            ok = true;
            return session;
        } finally {
            if (!ok) {
                api.nfs_destroy_context(ctx);
            }
        }
    }

    private static String error(LibNfs.Api api, Pointer ctx) {
        String e = api.nfs_get_error(ctx);
        return e == null ? "(no detail)" : oneLine(e);
    }

    static String oneLine(String s) {
        String t = s.replaceAll("[\\r\\n\\t]+", " ").trim();
        return t.length() > 300 ? t.substring(0, 300) + "..." : t;
    }

    private NfsError fail(String op, String path, int rc) {
        return new NfsError(op, path, -rc, error(api, ctx));
    }

    int readMax() {
        return readMax;
    }

    private Pointer handle(String path) throws NfsError {
        Pointer fh = handles.get(path);
        if (fh != null) {
            return fh;
        }
        PointerByReference ref = new PointerByReference();
        int rc = api.nfs_open(ctx, path, LibNfs.O_RDONLY, ref);
        if (rc < 0) {
            throw fail("open", path, rc);
        }
        fh = ref.getValue();
        handles.put(path, fh);
        if (handles.size() > MAX_HANDLES) {
            Iterator<Map.Entry<String, Pointer>> eldest = handles.entrySet().iterator();
            Map.Entry<String, Pointer> e = eldest.next();
            eldest.remove();
            api.nfs_close(ctx, e.getValue());
        }
        return fh;
    }

    /** Forgets a cached handle (the file was replaced or removed). */
    void forget(String path) {
        Pointer fh = handles.remove(path);
        if (fh != null) {
            api.nfs_close(ctx, fh);
        }
    }

    /**
     * Reads exactly {@code length} bytes at {@code offset} into {@code buf} (direct, from position 0). An early end
     * of file is an error: the objects are immutable and their size known, so a short file was truncated.
     */
    void pread(String path, long offset, ByteBuffer buf, int length) throws NfsError {
        boolean relooked = false;
        int done = 0;
        while (done < length) {
            Pointer fh = handle(path);
            int want = Math.min(readMax, length - done);
            int rc = api.nfs_pread(ctx, fh, offset + done, want, done == 0 ? buf : buf.duplicate().position(done).slice());
            if (rc == -LibNfs.ESTALE && !relooked) {
                // The server forgot the handle (restarted without stable handles): look the name up again, once.
                forget(path);
                relooked = true;
                continue;
            }
            if (rc < 0) {
                throw fail("read", path, rc);
            }
            if (rc == 0) {
                throw new NfsError("read", path, LibNfs.EIO, "file ends at " + (offset + done) + ", expected "
                        + (offset + length) + " bytes (truncated on the server?)", true);
            }
            done += rc;
        }
    }

    /** The file's size, or -1 when it does not exist. */
    long size(String path) throws NfsError {
        int rc = api.nfs_stat64(ctx, path, statBuf);
        if (rc == -LibNfs.ENOENT) {
            return -1;
        }
        if (rc < 0) {
            throw fail("stat", path, rc);
        }
        return statBuf.getLong(LibNfs.STAT_SIZE);
    }

    /** Creates {@code path} exclusively for writing; the handle is the caller's to {@link #close(Pointer)}. */
    Pointer create(String path) throws NfsError {
        PointerByReference ref = new PointerByReference();
        int rc = api.nfs_create(ctx, path, LibNfs.O_WRONLY | LibNfs.O_CREAT | LibNfs.O_EXCL, 0644, ref);
        if (rc < 0) {
            throw fail("create", path, rc);
        }
        return ref.getValue();
    }

    /** Writes {@code length} bytes of {@code buf} (direct, from position 0) at {@code offset}. */
    void pwrite(String path, Pointer fh, long offset, ByteBuffer buf, int length) throws NfsError {
        int done = 0;
        while (done < length) {
            int want = Math.min(writeMax, length - done);
            int rc = api.nfs_pwrite(ctx, fh, offset + done, want, done == 0 ? buf : buf.duplicate().position(done).slice());
            if (rc < 0) {
                throw fail("write", path, rc);
            }
            if (rc == 0) {
                throw new NfsError("write", path, LibNfs.EIO, "server accepted no bytes", true);
            }
            done += rc;
        }
    }

    /** COMMIT: what was written is on the server's stable storage when this returns. */
    void fsync(String path, Pointer fh) throws NfsError {
        int rc = api.nfs_fsync(ctx, fh);
        if (rc < 0) {
            throw fail("commit", path, rc);
        }
    }

    void close(Pointer fh) {
        api.nfs_close(ctx, fh);
    }

    void rename(String from, String to) throws NfsError {
        int rc = api.nfs_rename(ctx, from, to);
        if (rc < 0) {
            throw fail("rename", from, rc);
        }
        forget(to);
    }

    /** Removes a file; a missing one is not an error. */
    void unlink(String path) throws NfsError {
        forget(path);
        int rc = api.nfs_unlink(ctx, path);
        if (rc < 0 && rc != -LibNfs.ENOENT) {
            throw fail("remove", path, rc);
        }
    }

    record DirEntry(String name, boolean regular, long size) {
    }

    /** The entries of a directory of the mount ({@code "/"} is the mounted directory itself). */
    List<DirEntry> list(String dir) throws NfsError {
        PointerByReference ref = new PointerByReference();
        int rc = api.nfs_opendir(ctx, dir, ref);
        if (rc < 0) {
            throw fail("list", dir, rc);
        }
        Pointer d = ref.getValue();
        List<DirEntry> out = new ArrayList<>();
        try {
            for (Pointer e = api.nfs_readdir(ctx, d); e != null; e = api.nfs_readdir(ctx, d)) {
                Pointer name = e.getPointer(LibNfs.DIRENT_NAME);
                if (name == null) {
                    continue;
                }
                out.add(new DirEntry(name.getString(0), e.getInt(LibNfs.DIRENT_TYPE) == LibNfs.NF3REG,
                        e.getLong(LibNfs.DIRENT_SIZE)));
            }
        } finally {
            api.nfs_closedir(ctx, d);
        }
        return out;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Pointer fh : handles.values()) {
            api.nfs_close(ctx, fh);
        }
        handles.clear();
        api.nfs_destroy_context(ctx);
    }

    /** A failed libnfs call: the operation, the path, the errno and libnfs's own words, on one line. */
    static final class NfsError extends IOException {
        private final int errno;
        private final boolean permanent;

        NfsError(String op, String path, int errno, String detail) {
            this(op, path, errno, detail, isPermanent(errno, detail));
        }

        NfsError(String op, String path, int errno, String detail, boolean permanent) {
            super(op + " " + path + " failed: " + oneLine(detail));
            this.errno = errno;
            this.permanent = permanent;
        }

        int errno() {
            return errno;
        }

        boolean notFound() {
            return errno == LibNfs.ENOENT;
        }

        /** Retrying cannot help: the answer came from a working server and will be the same. */
        boolean permanent() {
            return permanent;
        }

        private static boolean isPermanent(int errno, String detail) {
            if (detail != null && (detail.contains("MNT3ERR_") || detail.contains("NFS3ERR_NOENT")
                    || detail.contains("NFS3ERR_ACCES") || detail.contains("NFS3ERR_PERM"))) {
                return true;
            }
            return switch (errno) {
                case LibNfs.ENOENT, LibNfs.EACCES, LibNfs.EPERM, LibNfs.ENOTDIR, LibNfs.EISDIR, LibNfs.EROFS,
                        LibNfs.ENOSPC, LibNfs.EEXIST -> true;
                default -> false;
            };
        }
    }
}
