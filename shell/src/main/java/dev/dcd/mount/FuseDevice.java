package dev.dcd.mount;

import com.kenai.jffi.MemoryIO;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code /dev/fuse} and the few system calls around it, through jnr-ffi: open, the {@code mount(2)} that
 * connects a descriptor to a mountpoint (root), read of one request and write of one reply. No Java channel
 * is used because {@code FileChannel} serializes reads and writes on one lock, and a worker blocked in
 * read(2) must not stop another from writing its reply.
 */
final class FuseDevice {
    static final int ENOENT = 2;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int ENODEV = 19;

    private static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 02000000;
    private static final long MS_NOSUID = 2;
    private static final long MS_NODEV = 4;
    private static final int MNT_DETACH = 2;

    /** The libc calls used, bound by jnr-ffi. */
    public interface LibC {
        int open(String path, int flags);

        int close(int fd);

        @ssize_t long read(int fd, Pointer buf, @size_t long count);

        @ssize_t long write(int fd, Pointer buf, @size_t long count);

        int mount(String source, String target, String type, long flags, String data);

        int umount2(String target, int flags);

        int dup2(int oldfd, int newfd);

        int prctl(int option, long arg2, long arg3, long arg4, long arg5);

        int getppid();

        int dup(int oldfd);

        int socketpair(int domain, int type, int protocol, @Out int[] sv);

        @ssize_t long recvmsg(int fd, Pointer msg, int flags);
    }

    private static final int PR_SET_PDEATHSIG = 1;
    private static final int SIGKILL = 9;

    /**
     * Has the kernel kill this process (SIGKILL: it owns nothing to clean up) when its parent (the thread that started it) ends; false if the
     * parent is not {@code expectedParent} any more, i.e. it died before the request took effect.
     */
    static boolean dieWithParent(long expectedParent) {
        Holder.LIB.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        return Holder.LIB.getppid() == expectedParent;
    }

    private static final class Holder {
        static final LibC LIB = LibraryLoader.create(LibC.class).failImmediately().load("c");
        static final Runtime RUNTIME = Runtime.getRuntime(LIB);
    }

    private final int fd;

    private FuseDevice(int fd) {
        this.fd = fd;
    }

    /** A descriptor this process already has, e.g. inherited from the supervisor as stdin. */
    static FuseDevice of(int fd) {
        return new FuseDevice(fd);
    }

    int fd() {
        return fd;
    }

    /**
     * Opens /dev/fuse and mounts it at {@code mountpoint} as {@code fuse.dcd} with source {@code dcd:VM} (needs
     * root: the mount(2) call; unprivileged mounts go through fusermount, which is libfuse's path).
     */
    static FuseDevice mount(Path mountpoint, String vm, long uid, long gid, boolean allowOther) throws IOException {
        LibC c = Holder.LIB;
        int fd = c.open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            throw new IOException("cannot open /dev/fuse: errno " + errno());
        }
        String options = "fd=" + fd + ",rootmode=40000,user_id=" + uid + ",group_id=" + gid + ",default_permissions"
                + (allowOther ? ",allow_other" : "");
        String source = "dcd:" + vm.replace(',', '_');
        if (c.mount(source, mountpoint.toString(), "fuse.dcd", MS_NOSUID | MS_NODEV, options) != 0) {
            int errno = errno();
            c.close(fd);
            throw new IOException("mount(2) of " + mountpoint + " failed: errno " + errno
                    + (errno == 1 ? " (mount(2) needs root)" : ""));
        }
        return new FuseDevice(fd);
    }

    // socket(7), unix(7) and cmsg(3) on Linux LP64 (x86_64, aarch64): struct msghdr and struct cmsghdr.
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSGHDR_BYTES = 56;
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int MSG_CONTROL = 32;
    private static final int MSG_CONTROLLEN = 40;
    private static final int IOVEC_BYTES = 16;
    private static final int CMSG_LEN = 0;
    private static final int CMSG_LEVEL = 8;
    private static final int CMSG_TYPE = 12;
    private static final int CMSG_DATA = 16;
    /** CMSG_SPACE(sizeof(int)): the header, one descriptor, padding to 8 bytes. */
    private static final int CMSG_SPACE_ONE_FD = 24;
    /** The variable fusermount reads the number of its end of the socket from (libfuse's FUSE_COMMFD_ENV). */
    static final String COMMFD_ENV = "_FUSE_COMMFD";

    /**
     * Mounts as a user who may not call mount(2), the way libfuse does: the setuid {@code fusermount} opens
     * /dev/fuse, mounts it and sends the descriptor back over a Unix socket (SCM_RIGHTS) whose number it finds in
     * {@code _FUSE_COMMFD}. Java starts children with descriptors 0-2 only, so the socket's far end is this
     * process's stdin while fusermount runs; the caller (the supervisor, single-threaded at this point) has
     * nothing else on stdin.
     */
    static FuseDevice mountWithFusermount(Path mountpoint, String vm, boolean allowOther, Duration timeout)
            throws IOException {
        LibC c = Holder.LIB;
        int[] sv = new int[2];
        if (c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            throw new IOException("socketpair failed: errno " + errno());
        }
        int savedStdin = c.dup(0);
        try {
            if (savedStdin < 0 || c.dup2(sv[1], 0) < 0) {
                throw new IOException("cannot hand fusermount its socket: errno " + errno());
            }
            String options = "nosuid,nodev,default_permissions,subtype=dcd,fsname=dcd:" + vm.replace(',', '_')
                    + (allowOther ? ",allow_other" : "");
            Exec.Result r;
            try {
                r = Exec.run(timeout, List.of("fusermount", "-o", options, "--", mountpoint.toString()),
                        Map.of(COMMFD_ENV, "0"), true);
            } finally {
                c.dup2(savedStdin, 0);
                c.close(sv[1]); // now only fusermount (if still alive) holds the far end: EOF once it is gone
            }
            if (!r.ok()) {
                throw new IOException("fusermount failed: " + (r.message().isEmpty() ? "exit code " + r.exitCode() : r.message()));
            }
            int fd = receiveDescriptor(sv[0]);
            if (fd < 0) {
                throw new IOException("fusermount mounted " + mountpoint + " but sent no /dev/fuse descriptor");
            }
            return new FuseDevice(fd);
        } finally {
            if (savedStdin >= 0) {
                c.close(savedStdin);
            }
            c.close(sv[0]);
        }
    }

    /** Receives one descriptor sent with SCM_RIGHTS on {@code socket}; -1 on end of stream or a message without one. */
    private static int receiveDescriptor(int socket) throws IOException {
        Runtime rt = Holder.RUNTIME;
        Pointer data = Memory.allocateDirect(rt, 1, true);
        Pointer iov = Memory.allocateDirect(rt, IOVEC_BYTES, true);
        iov.putAddress(0, data.address());
        iov.putLong(8, 1);
        Pointer control = Memory.allocateDirect(rt, CMSG_SPACE_ONE_FD, true);
        Pointer msg = Memory.allocateDirect(rt, MSGHDR_BYTES, true);
        msg.putAddress(MSG_IOV, iov.address());
        msg.putLong(MSG_IOVLEN, 1);
        msg.putAddress(MSG_CONTROL, control.address());
        msg.putLong(MSG_CONTROLLEN, CMSG_SPACE_ONE_FD);
        long n;
        do {
            n = Holder.LIB.recvmsg(socket, msg, 0);
        } while (n < 0 && errno() == EINTR);
        if (n < 0) {
            throw new IOException("recvmsg from fusermount failed: errno " + errno());
        }
        if (n == 0 || msg.getLong(MSG_CONTROLLEN) < CMSG_DATA + 4 || control.getInt(CMSG_LEVEL) != SOL_SOCKET
                || control.getInt(CMSG_TYPE) != SCM_RIGHTS || control.getLong(CMSG_LEN) < CMSG_DATA + 4) {
            return -1;
        }
        return control.getInt(CMSG_DATA);
    }

    /**
     * Detaches the mount lazily (as {@code umount -l}); the kernel then ends the connection for every server. Root
     * calls umount2(2); other users ask {@code fusermount -u -z}, which may unmount what they mounted.
     */
    static int detach(Path mountpoint) {
        if (Ids.uid() != 0) {
            Exec.Result r = Exec.run(Duration.ofSeconds(10), "fusermount", "-u", "-z", mountpoint.toString());
            return r.ok() ? 0 : Math.max(1, r.exitCode());
        }
        return Holder.LIB.umount2(mountpoint.toString(), MNT_DETACH) == 0 ? 0 : errno();
    }

    /** Makes {@code fd} this process's descriptor {@code target} too (for a child to inherit it as stdin). */
    void duplicateTo(int target) throws IOException {
        if (Holder.LIB.dup2(fd, target) < 0) {
            throw new IOException("dup2 failed: errno " + errno());
        }
    }

    private static final int PAGE_BYTES = 4096;

    /** Native memory for one request or reply, and a little-endian view of it. */
    static final class Buffer {
        final Pointer pointer;
        final ByteBuffer bytes;

        Buffer(int size) {
            pointer = Memory.allocateDirect(Holder.RUNTIME, size, true);
            bytes = MemoryIO.getInstance().newDirectByteBuffer(pointer.address(), size).order(ByteOrder.LITTLE_ENDIAN);
            // Fault every page in now. The kernel copies a request into (and a reply out of) this memory while the
            // request is already taken; a page it must fault in while SIGKILL is pending fails the copy, and the
            // kernel then ends that request with EIO instead of leaving it for FUSE_NOTIFY_RESEND. Large buffers
            // come from calloc's fresh mmap, which is zero without being touched.
            for (int i = 0; i < size; i += PAGE_BYTES) {
                bytes.put(i, (byte) 0);
            }
        }
    }

    /** Reads one request; returns its length, or a negative errno. */
    int read(Buffer buffer) {
        long n = Holder.LIB.read(fd, buffer.pointer, buffer.bytes.capacity());
        return n >= 0 ? (int) n : -errno();
    }

    /** Writes one reply (or notification) of {@code length} bytes; returns 0 or a negative errno. */
    int write(Buffer buffer, int length) {
        long n = Holder.LIB.write(fd, buffer.pointer, length);
        return n >= 0 ? 0 : -errno();
    }

    /** Asks the kernel to queue again every request a server of this connection had read but not answered. */
    int notifyResend() {
        Buffer b = new Buffer(FuseWire.OUT_HEADER_BYTES);
        b.bytes.putInt(FuseWire.OUT_LEN, FuseWire.OUT_HEADER_BYTES);
        b.bytes.putInt(FuseWire.OUT_ERROR, FuseWire.NOTIFY_RESEND);
        b.bytes.putLong(FuseWire.OUT_UNIQUE, 0);
        return write(b, FuseWire.OUT_HEADER_BYTES);
    }

    void close() {
        Holder.LIB.close(fd);
    }

    static int errno() {
        return Holder.RUNTIME.getLastError();
    }
}
