package dev.dcd.mount;

import com.kenai.jffi.MemoryIO;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

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
                    + (errno == 1 ? " (supervised mounts need root)" : ""));
        }
        return new FuseDevice(fd);
    }

    /** Detaches the mount lazily (as {@code umount -l}); the kernel then ends the connection for every server. */
    static int detach(Path mountpoint) {
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
