package dev.dcd.mount;

import com.kenai.jffi.MemoryIO;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.ReadOnlyDeviceException;
import dev.dcd.synth.FileIndex;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.FuseOperations;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The FUSE adapter: a thin translation from callbacks to {@link MountSource}. Exceptions become errno
 * here and nowhere else.
 *
 * <pre>
 *   /disk.img    the dynamic content disk, read-write
 *   /disk.vmdk   a monolithicFlat descriptor naming disk.img
 *   /stats.json  a snapshot of the chain's statistics, taken at open
 *   /files/      the synthesized filesystem, read-only, read through disk() at the index's extents
 * </pre>
 *
 * <p>The read path takes no lock and allocates only a small view over FUSE's own buffer, into which the
 * device reads directly.
 */
public final class DcdFuse extends FuseStubFS {
    static final String ROOT = "/";
    static final String DISK = "/disk.img";
    static final String VMDK = "/disk.vmdk";
    static final String STATS = "/stats.json";
    static final String FILES = "/files";
    private static final String FILES_PREFIX = "/files/";

    static final int S_IFDIR = 0040000;
    static final int S_IFREG = 0100000;
    static final int S_IFLNK = 0120000;
    private static final int O_ACCMODE = 3;
    private static final int O_RDONLY = 0;
    /** fallocate(2) mode a loop device uses for discard. */
    private static final int FALLOC_PUNCH_HOLE_KEEP_SIZE = 0x01 | 0x02;

    /** Top-level inode numbers sit at the top of the range, far from any index file id. */
    static final long INO_ROOT = 1;
    static final long INO_DISK = Long.MAX_VALUE - 1;
    static final long INO_VMDK = Long.MAX_VALUE - 2;
    static final long INO_STATS = Long.MAX_VALUE - 3;
    static final long INO_FILES_ROOT_FALLBACK = Long.MAX_VALUE - 4;

    /** File handles below this name a fixed file; the rest are keys into {@link #handles}. */
    private static final long FH_DISK = 1;
    private static final long FH_VMDK = 2;
    private static final long FH_FIRST_DYNAMIC = 16;

    /**
     * struct fuse_file_info in libfuse 2.9 is {int flags; unsigned long fh_old; int writepage; unsigned direct_io:1,
     * keep_cache:1, ...; uint64_t fh; ...}: the bitfield word is the 4 bytes right before fh (offset 20 on LP64).
     */
    private static final int FI_BITFIELD_BEFORE_FH = 4;
    private static final int FI_DIRECT_IO = 1;
    private static final int FI_KEEP_CACHE = 2;

    private final MountSource source;
    private final BlockDevice disk;
    private final FileIndex index;
    private final byte[] vmdk;
    private final boolean keepCacheForFiles;
    private final MountAttributes attributes;
    private final PrintStream log;
    private final ConcurrentHashMap<Long, Object> handles = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(FH_FIRST_DYNAMIC);

    DcdFuse(MountSource source, boolean keepCacheForFiles, long uid, long gid, PrintStream log) {
        this.source = source;
        this.disk = source.disk();
        this.index = source.files();
        this.vmdk = source.vmdkDescriptor().getBytes(StandardCharsets.UTF_8);
        this.keepCacheForFiles = keepCacheForFiles;
        this.attributes = new MountAttributes(source, uid, gid);
        this.log = log;
    }

    // ---------------------------------------------------------------- attributes and names

    @Override
    public int getattr(String path, FileStat st) {
        try {
            switch (path) {
                case ROOT -> fill(st, INO_ROOT, attributes.root());
                case DISK -> fill(st, INO_DISK, attributes.disk());
                case VMDK -> fill(st, INO_VMDK, attributes.vmdk());
                case STATS -> fill(st, INO_STATS, attributes.stats());
                default -> {
                    FileIndex.Node node = node(path);
                    if (node == null) {
                        if (FILES.equals(path)) {
                            fill(st, INO_FILES_ROOT_FALLBACK, attributes.filesFallback());
                            return 0;
                        }
                        return -ErrorCodes.ENOENT();
                    }
                    fill(st, node.fileId(), MountAttributes.of(node));
                }
            }
            return 0;
        } catch (RuntimeException e) {
            return fail("getattr", path, e);
        }
    }

    @Override
    public int fgetattr(String path, FileStat stat, FuseFileInfo fi) {
        return getattr(path, stat);
    }

    private static void fill(FileStat st, long ino, MountAttributes.Attr a) {
        st.st_ino.set(ino);
        st.st_mode.set(a.mode());
        st.st_nlink.set(a.nlink());
        st.st_size.set(a.size());
        st.st_uid.set(a.uid());
        st.st_gid.set(a.gid());
        st.st_blksize.set(MountAttributes.BLOCK_SIZE);
        st.st_blocks.set(a.blocks());
        for (Timespec t : new Timespec[] {st.st_mtim, st.st_ctim, st.st_atim}) {
            t.tv_sec.set(a.seconds());
            t.tv_nsec.set(a.nanos());
        }
    }

    /** The index node behind a path under files/, or null. */
    private FileIndex.Node node(String path) {
        if (FILES.equals(path)) {
            return index.get("");
        }
        if (path.startsWith(FILES_PREFIX)) {
            return index.get(path.substring(FILES_PREFIX.length()));
        }
        return null;
    }

    private static boolean underFiles(String path) {
        return FILES.equals(path) || path.startsWith(FILES_PREFIX);
    }

    private static boolean topLevelFile(String path) {
        return DISK.equals(path) || VMDK.equals(path) || STATS.equals(path);
    }

    @Override
    public int opendir(String path, FuseFileInfo fi) {
        if (ROOT.equals(path) || FILES.equals(path)) {
            return 0;
        }
        if (topLevelFile(path)) {
            return -ErrorCodes.ENOTDIR();
        }
        FileIndex.Node node = node(path);
        if (node == null) {
            return -ErrorCodes.ENOENT();
        }
        return node.kind() == FileIndex.Kind.DIRECTORY ? 0 : -ErrorCodes.ENOTDIR();
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filler, @off_t long offset, FuseFileInfo fi) {
        try {
            if (ROOT.equals(path)) {
                for (String name : new String[] {".", "..", "disk.img", "disk.vmdk", "stats.json", "files"}) {
                    add(filler, buf, name);
                }
                return 0;
            }
            int check = opendir(path, fi);
            if (check != 0) {
                return check;
            }
            String dir = FILES.equals(path) ? "" : path.substring(FILES_PREFIX.length());
            add(filler, buf, ".");
            add(filler, buf, "..");
            for (String name : index.list(dir)) {
                if (add(filler, buf, name) != 0) {
                    break;
                }
            }
            return 0;
        } catch (RuntimeException e) {
            return fail("readdir", path, e);
        }
    }

    /**
     * jnr-fuse's String overload encodes with the platform charset and passes no terminating NUL; names on
     * the disk are UTF-8, so they are encoded here, terminated.
     */
    private static int add(FuseFillDir filler, Pointer buf, String name) {
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        byte[] terminated = Arrays.copyOf(utf8, utf8.length + 1);
        return filler.apply(buf, ByteBuffer.wrap(terminated), null, 0);
    }

    @Override
    public int readlink(String path, Pointer buf, @size_t long size) {
        FileIndex.Node node = node(path);
        if (node == null) {
            return topLevelFile(path) || ROOT.equals(path) ? -ErrorCodes.EINVAL() : -ErrorCodes.ENOENT();
        }
        if (node.kind() != FileIndex.Kind.SYMLINK) {
            return -ErrorCodes.EINVAL();
        }
        if (size <= 0) {
            return -ErrorCodes.EINVAL();
        }
        byte[] target = node.target().getBytes(StandardCharsets.UTF_8);
        int n = (int) Math.min(target.length, size - 1);
        buf.put(0, target, 0, n);
        buf.putByte(n, (byte) 0);
        return 0;
    }

    @Override
    public int statfs(String path, Statvfs st) {
        st.f_bsize.set(4096);
        st.f_frsize.set(4096);
        st.f_blocks.set(disk.size() / 4096);
        st.f_bfree.set(0);
        st.f_bavail.set(0);
        st.f_files.set(index.size() + 5L);
        st.f_ffree.set(0);
        st.f_favail.set(0);
        st.f_namemax.set(255);
        return 0;
    }

    // ---------------------------------------------------------------- open, read, write

    @Override
    public int open(String path, FuseFileInfo fi) {
        try {
            boolean readOnly = (fi.flags.get() & O_ACCMODE) == O_RDONLY;
            switch (path) {
                case DISK -> {
                    if (!readOnly && !disk.capabilities().writable()) {
                        return -ErrorCodes.EROFS();
                    }
                    fi.fh.set(FH_DISK);
                    return 0;
                }
                case VMDK -> {
                    if (!readOnly) {
                        return -ErrorCodes.EROFS();
                    }
                    fi.fh.set(FH_VMDK);
                    setBits(fi, FI_KEEP_CACHE);
                    return 0;
                }
                case STATS -> {
                    if (!readOnly) {
                        return -ErrorCodes.EROFS();
                    }
                    // The snapshot is taken once per open so that one reader sees one consistent document;
                    // direct_io lets its real length, not the size getattr saw, decide where it ends.
                    long fh = nextHandle.getAndIncrement();
                    handles.put(fh, source.statsJson());
                    fi.fh.set(fh);
                    setBits(fi, FI_DIRECT_IO);
                    return 0;
                }
                case ROOT -> {
                    return -ErrorCodes.EISDIR();
                }
                default -> {
                    FileIndex.Node node = node(path);
                    if (node == null) {
                        return -ErrorCodes.ENOENT();
                    }
                    if (node.kind() == FileIndex.Kind.DIRECTORY) {
                        return -ErrorCodes.EISDIR();
                    }
                    if (node.kind() != FileIndex.Kind.FILE) {
                        return -ErrorCodes.EINVAL();
                    }
                    if (!readOnly) {
                        return -ErrorCodes.EROFS();
                    }
                    long fh = nextHandle.getAndIncrement();
                    handles.put(fh, new FileExtents(node));
                    fi.fh.set(fh);
                    if (keepCacheForFiles) {
                        setBits(fi, FI_KEEP_CACHE);
                    }
                    return 0;
                }
            }
        } catch (RuntimeException e) {
            return fail("open", path, e);
        }
    }

    /** jnr-fuse maps the fuse_file_info bitfields as padding, so they are set through the struct's memory. */
    private static void setBits(FuseFileInfo fi, int bits) {
        long offset = fi.fh.offset() - FI_BITFIELD_BEFORE_FH;
        Pointer memory = Struct.getMemory(fi);
        memory.putInt(offset, memory.getInt(offset) | bits);
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        long fh = fi.fh.get();
        if (fh >= FH_FIRST_DYNAMIC) {
            handles.remove(fh);
        }
        return 0;
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        long fh = fi.fh.get();
        try {
            if (fh == FH_DISK) {
                return readDisk(buf, size, offset);
            }
            if (fh == FH_VMDK) {
                return readBytes(vmdk, buf, size, offset);
            }
            Object handle = handles.get(fh);
            if (handle instanceof FileExtents file) {
                return file.read(disk, offset, size, (at, length) -> view(buf, at, length));
            }
            if (handle instanceof byte[] bytes) {
                return readBytes(bytes, buf, size, offset);
            }
            return -ErrorCodes.EBADF();
        } catch (IOException | RuntimeException e) {
            return fail("read", path + " at " + offset + "+" + size, e);
        }
    }

    private int readDisk(Pointer buf, long size, long offset) throws IOException {
        long deviceSize = disk.size();
        if (offset >= deviceSize || size <= 0) {
            return 0;
        }
        int n = (int) Math.min(size, deviceSize - offset);
        disk.read(offset, view(buf, 0, n));
        return n;
    }

    private static int readBytes(byte[] bytes, Pointer buf, long size, long offset) {
        if (offset >= bytes.length || size <= 0) {
            return 0;
        }
        int n = (int) Math.min(size, bytes.length - offset);
        buf.put(0, bytes, (int) offset, n);
        return n;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        if (fi.fh.get() != FH_DISK) {
            return -(DISK.equals(path) ? ErrorCodes.EBADF() : ErrorCodes.EROFS());
        }
        try {
            long deviceSize = disk.size();
            if (offset >= deviceSize) {
                return size == 0 ? 0 : -ErrorCodes.ENOSPC();
            }
            int n = (int) Math.min(size, deviceSize - offset);
            disk.write(offset, view(buf, 0, n));
            return n;
        } catch (ReadOnlyDeviceException e) {
            return -ErrorCodes.EROFS();
        } catch (IOException | RuntimeException e) {
            return fail("write", path + " at " + offset + "+" + size, e);
        }
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        if (!DISK.equals(path)) {
            return 0;
        }
        try {
            disk.flush();
            return 0;
        } catch (IOException | RuntimeException e) {
            return fail("fsync", path, e);
        }
    }

    @Override
    public int flush(String path, FuseFileInfo fi) {
        // close(2) is not a durability point; fsync is, and it reaches the chain.
        return 0;
    }

    @Override
    public int fallocate(String path, int mode, @off_t long offset, @off_t long length, FuseFileInfo fi) {
        if (!DISK.equals(path)) {
            return -refusal(path);
        }
        if (mode != FALLOC_PUNCH_HOLE_KEEP_SIZE || !disk.capabilities().trim()) {
            return -ErrorCodes.EOPNOTSUPP();
        }
        try {
            long end = Math.min(disk.size(), offset + length);
            if (offset < end) {
                disk.trim(offset, end - offset);
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            return fail("fallocate", path + " at " + offset + "+" + length, e);
        }
    }

    @Override
    public int truncate(String path, @off_t long size) {
        if (DISK.equals(path)) {
            // A disk has the size it was built with; only a no-op truncate (as some tools issue) succeeds.
            return size == disk.size() ? 0 : -ErrorCodes.EPERM();
        }
        if (!ROOT.equals(path) && !topLevelFile(path) && node(path) == null) {
            return -ErrorCodes.ENOENT();
        }
        return -refusal(path);
    }

    @Override
    public int ftruncate(String path, @off_t long size, FuseFileInfo fi) {
        return truncate(path, size);
    }

    // ---------------------------------------------------------------- everything that would change names

    /** EROFS where content is read-only by nature; EPERM for the fixed top level. */
    private static int refusal(String path) {
        return underFiles(path) || VMDK.equals(path) || STATS.equals(path) ? ErrorCodes.EROFS() : ErrorCodes.EPERM();
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        return -refusal(path);
    }

    @Override
    public int mknod(String path, long mode, long rdev) {
        return -refusal(path);
    }

    @Override
    public int mkdir(String path, long mode) {
        return -refusal(path);
    }

    @Override
    public int unlink(String path) {
        return -refusal(path);
    }

    @Override
    public int rmdir(String path) {
        return -refusal(path);
    }

    @Override
    public int symlink(String oldpath, String newpath) {
        return -refusal(newpath);
    }

    @Override
    public int rename(String oldpath, String newpath) {
        return -refusal(oldpath);
    }

    @Override
    public int link(String oldpath, String newpath) {
        return -refusal(newpath);
    }

    @Override
    public int chmod(String path, long mode) {
        return -refusal(path);
    }

    @Override
    public int chown(String path, long uid, long gid) {
        return -refusal(path);
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        return -refusal(path);
    }

    // ---------------------------------------------------------------- plumbing

    /** A view over FUSE's buffer, so that the device reads or writes it in place. */
    private static ByteBuffer view(Pointer buf, int offset, int length) {
        return MemoryIO.getInstance().newDirectByteBuffer(buf.address() + offset, length);
    }

    private int fail(String op, String what, Throwable e) {
        log.println("dcd-fuse: " + op + " " + what + " failed, returning EIO: " + describe(e));
        return -ErrorCodes.EIO();
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.toString());
        for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) {
            sb.append(" <- ").append(c);
        }
        return sb.toString();
    }

    /** The callback table jnr-fuse built for this file system; {@link FuseLoop} hands it to {@code fuse_setup}. */
    FuseOperations operations() {
        return fuseOperations;
    }

    /**
     * Records the mount as jnr-fuse's own {@code mount} would, so that its {@code umount()} (our shutdown hook)
     * lazily unmounts {@code mountpoint}.
     */
    void markMounted(Path mountpoint) {
        if (!mounted.compareAndSet(false, true)) {
            throw new IllegalStateException("already mounted at " + mountPoint);
        }
        mountPoint = mountpoint;
    }

    /** Tells jnr-fuse the mount has ended by other means (an external unmount), so its hook does nothing. */
    void markUnmounted() {
        mounted.set(false);
    }

    static Runtime runtime() {
        return Runtime.getSystemRuntime();
    }
}
