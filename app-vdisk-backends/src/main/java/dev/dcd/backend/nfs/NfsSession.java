package dev.dcd.backend.nfs;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * One libnfs context, mounted: a TCP connection to the server with its own RPC state. Not thread-safe (libnfs
 * contexts are not: a shared one returned wrong data in testing), so each worker thread owns one, and a session
 * that failed is closed and replaced rather than trusted again.
 *
 * <p>Paths are relative to the mounted directory and start with '/'. Open read handles are kept (a few dozen,
 * least recently used closed first); a handle the server no longer knows (ESTALE, after a server restart that
 * lost its handle table) is looked up again once, transparently.
 *
 * <p>Every call that waits on the network is made with libnfs's asynchronous API and serviced here (poll, then
 * {@code nfs_service}), with a Java callback whose reply state lives on the heap: libnfs 4.0's synchronous calls
 * leave a pointer to their C stack queued when the connection breaks, which crashed the JVM when the context was
 * destroyed (see {@link LibNfs}). A wait that ends without a reply (the connection broke, the call's deadline
 * passed, the thread was interrupted) leaves the session {@linkplain #broken() broken}: its owner destroys it and
 * connects a new one. A late callback for an abandoned call (libnfs cancels queued calls when the context is
 * destroyed) finds its call id stale and is ignored.
 */
final class NfsSession implements AutoCloseable {
    /** NFSv3 READ and WRITE carry at most 1 MiB each (libnfs 4 caps them there too). */
    static final int MAX_IO = 1024 * 1024;
    /**
     * READs one {@link #pread} keeps in flight on this one connection. A worker's read of several MiB then costs
     * one round trip instead of one per MiB; over a network that is what depth is made of (docs/nfs-backend.md).
     */
    static final int MAX_READS_IN_FLIGHT = 4;
    private static final int MAX_HANDLES = 64;
    /** How long one poll waits before libnfs's own timeout scan and the deadline are looked at again. */
    private static final int POLL_MILLIS = 100;
    private static final int EINTR = 4;
    private static final int EFAULT = 14;
    private static final java.util.regex.Pattern MOUNT_REFUSED = java.util.regex.Pattern.compile("(MNT3ERR_[A-Z_]+)");

    private final LibNfs.Api api;
    private final LibNfs.Libc libc;
    private final jnr.ffi.Runtime runtime;
    private final Pointer ctx;
    private final Pointer pollFd;
    private final int readMax;
    private final int writeMax;
    private final LinkedHashMap<String, Pointer> handles = new LinkedHashMap<>(16, 0.75f, true);
    /** Held for as long as the context lives: libnfs may call it until {@code nfs_destroy_context} returns. */
    private final LibNfs.Callback callback = this::completed;
    private LongSupplier clock = System::nanoTime;
    private long deadlineNanos = Long.MAX_VALUE;
    private boolean deadlineSet;
    /** The id of the last call started; each call's callback carries its own id as private data. */
    private long callId;
    /**
     * The calls being waited for, by id (one, or a pipelined read's READs); a callback whose id is not here is late
     * (its call was given up on) and is ignored.
     */
    private final Map<Long, Reply> pending = new HashMap<>();
    private String broken;
    private boolean closed;

    /** What a call's callback does with the reply's data while it is valid (it is libnfs's, only during the call). */
    @FunctionalInterface
    private interface Receive {
        void accept(int status, Pointer data);
    }

    /** Queues one asynchronous call with the session's callback and the given private data; 0 when queued. */
    @FunctionalInterface
    private interface Start {
        int start(LibNfs.Callback cb, Pointer privateData);
    }

    private static final class Reply {
        final Receive receive;
        boolean done;
        int status;
        String error;

        Reply(Receive receive) {
            this.receive = receive;
        }
    }

    private NfsSession(LibNfs lib, Pointer ctx) {
        this.api = lib.api();
        this.libc = lib.libc();
        this.runtime = lib.runtime();
        this.ctx = ctx;
        this.pollFd = Memory.allocateDirect(runtime, LibNfs.POLLFD_BYTES);
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
            // The synchronous mount is safe: on failure it disconnects (completing its queued calls) before it
            // returns, so nothing it queued outlives its stack frame.
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

    /**
     * Bounds the waits of the calls that follow: once {@code clock} passes {@code deadlineNanos} a wait gives up
     * (and the session is broken). Without it only libnfs's own timeout bounds a call.
     */
    void deadline(LongSupplier clock, long deadlineNanos) {
        this.clock = clock;
        this.deadlineNanos = deadlineNanos;
        this.deadlineSet = true;
    }

    /** Why the session must not be used again (a wait ended without its reply), or null while it is sound. */
    String broken() {
        return broken;
    }

    int readMax() {
        return readMax;
    }

    /** libnfs calls this from inside {@code nfs_service} (or {@code nfs_destroy_context}), on the owning thread. */
    private void completed(int err, Pointer nfs, Pointer data, Pointer privateData) {
        Reply r = privateData == null ? null : pending.remove(privateData.address());
        if (r == null) {
            return; // a call given up on earlier, cancelled now: nothing waits for it
        }
        r.done = true;
        r.status = err;
        try {
            if (err == -EFAULT) {
                // libnfs 4.0 reports an NFS error of a READ or WRITE (NFS3ERR_STALE among them) as EFAULT with the
                // reply struct as data, not a string; the context's error says which: "NFS: Read failed with ...".
                r.error = error(api, ctx);
            } else if (err < 0) {
                r.error = data == null ? "(no detail)" : oneLine(data.getString(0));
            } else {
                r.receive.accept(err, data);
            }
        } catch (RuntimeException e) {
            // Never let an exception unwind through C frames.
            r.status = -LibNfs.EIO;
            r.error = "reply could not be read: " + e;
        }
    }

    /**
     * Makes one asynchronous call and services the context until its callback ran. Returns the call's status
     * (at least 0); a negative status is thrown as an {@link NfsError}.
     */
    private int call(String op, String path, Receive receive, Start start) throws NfsError {
        if (broken != null) {
            throw new NfsError(op, path, LibNfs.EIO, "session is broken: " + broken);
        }
        if (closed) {
            throw new NfsError(op, path, LibNfs.EIO, "session is closed");
        }
        Reply r = begin(op, path, receive, start);
        try {
            while (!r.done) {
                waitOnce(op, path);
            }
        } finally {
            pending.clear();
        }
        if (r.status < 0) {
            throw new NfsError(op, path, -r.status, op + " call failed with \"" + r.error + "\"");
        }
        return r.status;
    }

    /** Queues one asynchronous call, waited for by its id; a call libnfs would not queue breaks the session. */
    private Reply begin(String op, String path, Receive receive, Start start) throws NfsError {
        Reply r = new Reply(receive);
        long id = ++callId;
        pending.put(id, r);
        if (start.start(callback, Pointer.wrap(runtime, id)) != 0) {
            // Not queued, so the callback will not run; the context may be out of memory or disconnected.
            pending.remove(id);
            String detail = error(api, ctx);
            broken = op + " could not be queued: " + detail;
            throw new NfsError(op, path, LibNfs.EIO, detail);
        }
        return r;
    }

    /** One poll and one {@code nfs_service}; gives up (breaking the session) when the call cannot complete. */
    private void waitOnce(String op, String path) throws NfsError {
        if (Thread.currentThread().isInterrupted()) {
            broken = op + " was abandoned (interrupted)";
            throw new NfsError(op, path, EINTR, "abandoned: the caller stopped waiting");
        }
        if (deadlineSet && clock.getAsLong() - deadlineNanos >= 0) {
            broken = op + " passed its deadline";
            throw new NfsError(op, path, LibNfs.ETIMEDOUT, "no reply before the deadline");
        }
        int fd = api.nfs_get_fd(ctx);
        if (fd < 0) {
            broken = "socket closed";
            throw new NfsError(op, path, LibNfs.EIO, "socket closed: " + error(api, ctx));
        }
        pollFd.putInt(LibNfs.POLLFD_FD, fd);
        pollFd.putShort(LibNfs.POLLFD_EVENTS, (short) api.nfs_which_events(ctx));
        pollFd.putShort(LibNfs.POLLFD_REVENTS, (short) 0);
        int n = libc.poll(pollFd, 1, POLL_MILLIS);
        // A failed poll (EINTR) services nothing this round; libnfs's timeout scan still runs.
        int revents = n > 0 ? pollFd.getShort(LibNfs.POLLFD_REVENTS) & 0xffff : 0;
        if (api.nfs_service(ctx, revents) < 0) {
            broken = "connection failed: " + error(api, ctx);
            if (!pending.isEmpty()) {
                throw new NfsError(op, path, LibNfs.EIO, error(api, ctx));
            }
        }
    }

    private Pointer handle(String path) throws NfsError {
        Pointer fh = handles.get(path);
        if (fh != null) {
            return fh;
        }
        Pointer[] out = new Pointer[1];
        call("open", path, (status, data) -> out[0] = data,
                (cb, id) -> api.nfs_open_async(ctx, path, LibNfs.O_RDONLY, cb, id));
        fh = out[0];
        handles.put(path, fh);
        if (handles.size() > MAX_HANDLES) {
            Iterator<Map.Entry<String, Pointer>> eldest = handles.entrySet().iterator();
            Map.Entry<String, Pointer> e = eldest.next();
            eldest.remove();
            // A read handle is never dirty: closing it frees it locally, no RPC, nothing to wait for.
            api.nfs_close(ctx, e.getValue());
        }
        return fh;
    }

    /** Opens and keeps the read handle of {@code path} (one LOOKUP round trip), so the first read needs none. */
    void prepare(String path) throws NfsError {
        handle(path);
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
     *
     * <p>A read longer than one READ keeps up to {@link #MAX_READS_IN_FLIGHT} READs in flight on this connection
     * (libnfs's asynchronous API queues them; their replies may come back in any order, each carrying its own call
     * id, and each is copied to its own place in {@code buf} from inside its callback). A short reply queues a READ
     * for the rest. When a READ fails, the others in flight are still waited for, so the connection stays usable;
     * a stale handle is looked up again once and the failed pieces read again; any other failure is thrown.
     */
    void pread(String path, long offset, ByteBuffer buf, int length) throws NfsError {
        if (!buf.isDirect() || buf.capacity() < length) {
            throw new IllegalArgumentException("pread needs a direct buffer of at least " + length + " bytes");
        }
        long base = Pointer.wrap(runtime, buf).address();
        boolean relooked = false;
        ArrayDeque<int[]> todo = new ArrayDeque<>();
        for (int at = 0; at < length; at += readMax) {
            todo.add(new int[] {at, Math.min(readMax, length - at)});
        }
        List<InFlight> inFlight = new ArrayList<>();
        try {
            while (!todo.isEmpty()) {
                Pointer fh = handle(path);
                NfsError failed = null;
                List<int[]> retry = new ArrayList<>();
                while ((failed == null && !todo.isEmpty()) || !inFlight.isEmpty()) {
                    while (failed == null && !todo.isEmpty() && inFlight.size() < MAX_READS_IN_FLIGHT) {
                        int[] piece = todo.poll();
                        inFlight.add(new InFlight(piece, readAsync(path, fh, offset, base, piece)));
                    }
                    waitOnce("read", path);
                    for (var it = inFlight.iterator(); it.hasNext(); ) {
                        InFlight f = it.next();
                        if (!f.reply.done) {
                            continue;
                        }
                        it.remove();
                        int at = f.piece[0];
                        int want = f.piece[1];
                        if (f.reply.status < 0) {
                            NfsError e = new NfsError("read", path, -f.reply.status, "read call failed with \""
                                    + f.reply.error + "\"");
                            retry.add(f.piece);
                            if (failed == null || (failed.stale() && !e.stale())) {
                                failed = e; // a failure other than a stale handle is the one to report
                            }
                        } else if (f.reply.status == 0) {
                            if (failed == null || failed.stale()) {
                                failed = new NfsError("read", path, LibNfs.EIO, "file ends at " + (offset + at)
                                        + ", expected " + (offset + length) + " bytes (truncated on the server?)", true);
                            }
                        } else if (f.reply.status < want) {
                            todo.addFirst(new int[] {at + f.reply.status, want - f.reply.status});
                        }
                    }
                }
                if (failed != null) {
                    if (failed.stale() && !relooked && broken == null) {
                        // The server forgot the handle (restarted without stable handles): look the name up again,
                        // once, and read again what failed.
                        forget(path);
                        relooked = true;
                        todo.addAll(retry);
                        continue;
                    }
                    throw failed;
                }
            }
        } finally {
            if (!inFlight.isEmpty()) {
                // Left waiting (deadline, broken connection, interrupt): the session is broken and will be destroyed.
                pending.clear();
            }
        }
    }

    /** A READ in flight: which part of the read it is ({@code {at, length}}) and its reply. */
    private record InFlight(int[] piece, Reply reply) {
    }

    /** Starts one READ of {@code piece} ({@code {at, length}}) whose reply is copied to {@code base + at}. */
    private Reply readAsync(String path, Pointer fh, long offset, long base, int[] piece) throws NfsError {
        int at = piece[0];
        int want = piece[1];
        return begin("read", path, (status, data) -> {
            if (status > want) {
                throw new IllegalStateException("server returned " + status + " bytes for " + want);
            }
            data.transferTo(0, Pointer.wrap(runtime, base + at), 0, status);
        }, (cb, id) -> api.nfs_pread_async(ctx, fh, offset + at, want, cb, id));
    }

    /** The file's size, or -1 when it does not exist. */
    long size(String path) throws NfsError {
        long[] size = new long[1];
        try {
            call("stat", path, (status, data) -> size[0] = data.getLong(LibNfs.STAT_SIZE),
                    (cb, id) -> api.nfs_stat64_async(ctx, path, cb, id));
        } catch (NfsError e) {
            if (e.errno() == LibNfs.ENOENT) {
                return -1;
            }
            throw e;
        }
        return size[0];
    }

    /** Creates {@code path} exclusively for writing; the handle is the caller's to {@link #close(Pointer)}. */
    Pointer create(String path) throws NfsError {
        Pointer[] out = new Pointer[1];
        call("create", path, (status, data) -> out[0] = data, (cb, id) -> api.nfs_create_async(ctx, path,
                LibNfs.O_WRONLY | LibNfs.O_CREAT | LibNfs.O_EXCL, 0644, cb, id));
        return out[0];
    }

    /** Writes {@code length} bytes of {@code buf} (direct, from position 0) at {@code offset}. */
    void pwrite(String path, Pointer fh, long offset, ByteBuffer buf, int length) throws NfsError {
        if (!buf.isDirect() || buf.capacity() < length) {
            throw new IllegalArgumentException("pwrite needs a direct buffer of at least " + length + " bytes");
        }
        long base = Pointer.wrap(runtime, buf).address();
        int done = 0;
        while (done < length) {
            int want = Math.min(writeMax, length - done);
            int at = done;
            int rc = call("write", path, (status, data) -> { },
                    (cb, id) -> api.nfs_pwrite_async(ctx, fh, offset + at, want, Pointer.wrap(runtime, base + at), cb, id));
            if (rc == 0) {
                throw new NfsError("write", path, LibNfs.EIO, "server accepted no bytes", true);
            }
            done += rc;
        }
    }

    /** COMMIT: what was written is on the server's stable storage when this returns. */
    void fsync(String path, Pointer fh) throws NfsError {
        call("commit", path, (status, data) -> { }, (cb, id) -> api.nfs_fsync_async(ctx, fh, cb, id));
    }

    /**
     * Closes a handle from {@link #create}. A dirty one is committed first (an RPC); on a broken session the handle
     * is left to the context's destruction.
     */
    void close(Pointer fh) {
        if (broken != null || closed) {
            return;
        }
        try {
            call("close", "(file)", (status, data) -> { }, (cb, id) -> api.nfs_close_async(ctx, fh, cb, id));
        } catch (NfsError e) {
            // Nothing to do: the commit that matters was checked by fsync; a broken session is discarded.
        }
    }

    void rename(String from, String to) throws NfsError {
        call("rename", from, (status, data) -> { }, (cb, id) -> api.nfs_rename_async(ctx, from, to, cb, id));
        forget(to);
    }

    /** Removes a file; a missing one is not an error. */
    void unlink(String path) throws NfsError {
        forget(path);
        try {
            call("remove", path, (status, data) -> { }, (cb, id) -> api.nfs_unlink_async(ctx, path, cb, id));
        } catch (NfsError e) {
            if (e.errno() != LibNfs.ENOENT) {
                throw e;
            }
        }
    }

    record DirEntry(String name, boolean regular, long size, long mtimeSeconds) {
    }

    /** The entries of a directory of the mount ({@code "/"} is the mounted directory itself). */
    List<DirEntry> list(String dir) throws NfsError {
        Pointer[] out = new Pointer[1];
        call("list", dir, (status, data) -> out[0] = data, (cb, id) -> api.nfs_opendir_async(ctx, dir, cb, id));
        Pointer d = out[0];
        List<DirEntry> entries = new ArrayList<>();
        try {
            // readdir walks the listing opendir fetched: no RPC.
            for (Pointer e = api.nfs_readdir(ctx, d); e != null; e = api.nfs_readdir(ctx, d)) {
                Pointer name = e.getPointer(LibNfs.DIRENT_NAME);
                if (name == null) {
                    continue;
                }
                entries.add(new DirEntry(name.getString(0), e.getInt(LibNfs.DIRENT_TYPE) == LibNfs.NF3REG,
                        e.getLong(LibNfs.DIRENT_SIZE), e.getLong(LibNfs.DIRENT_MTIME_SECONDS)));
            }
        } finally {
            api.nfs_closedir(ctx, d);
        }
        return entries;
    }

    /**
     * Destroys the context, once. libnfs cancels whatever is still queued and calls back for each: those callbacks
     * find no call waiting and do nothing.
     */
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
        pending.clear();
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

        /** The server no longer knows the file handle (ESTALE, or libnfs's EFAULT naming NFS3ERR_STALE). */
        boolean stale() {
            return errno == LibNfs.ESTALE || String.valueOf(getMessage()).contains("NFS3ERR_STALE");
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
