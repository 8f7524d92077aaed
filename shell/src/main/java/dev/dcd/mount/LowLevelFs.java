package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.ReadOnlyDeviceException;
import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The same file system as {@link DcdFuse}, answering the kernel's FUSE requests directly (no libfuse): one
 * request in, at most one reply out, both in {@link FuseWire}'s layout. Exceptions become errno here and
 * nowhere else.
 *
 * <p>Everything the kernel keeps between requests is derived from the mount's content, never from this
 * process's history, so that a new server process can answer requests for node ids and file handles an
 * earlier one handed out: node ids are the inode numbers {@link DcdFuse} shows ({@link DcdFuse#INO_ROOT} is
 * FUSE's root id; {@code files/} entries are their index {@code fileId}), lookup counts are not kept (FORGET
 * is a no-op), the handle of a {@code files/} file is its node id and that of {@code disk.img} a constant.
 * Only {@code stats.json} snapshots are per process: a handle another process opened gets a fresh snapshot.
 * Every request is safe to answer twice (after a resend): reads change nothing, and a write puts the same
 * bytes at the same offset again.
 */
final class LowLevelFs {
    private static final int EPERM = 1;
    private static final int ENOENT = 2;
    private static final int EIO = 5;
    private static final int EBADF = 9;
    private static final int ENOTDIR = 20;
    private static final int EISDIR = 21;
    private static final int EINVAL = 22;
    private static final int ENOSPC = 28;
    private static final int EROFS = 30;
    private static final int ENOSYS = 38;
    private static final int EOPNOTSUPP = 95;

    private static final int O_ACCMODE = 3;
    private static final int O_RDONLY = 0;
    private static final int FALLOC_PUNCH_HOLE_KEEP_SIZE = 0x01 | 0x02;
    private static final int DT_DIR = 4;
    private static final int DT_REG = 8;
    private static final int DT_LNK = 10;

    /** Names and attributes never change during a mount (see docs/fuse.md); stats.json's size does. */
    private static final long VALID_SECONDS = 3600;

    static final long FH_DISK = 1;
    static final long FH_VMDK = 2;
    /** stats.json handles count up from here; files/ handles are node ids, which never reach this range. */
    private static final long FH_FIRST_STATS = Long.MAX_VALUE / 2;
    /** A files/ entry whose fileId is 1 (FUSE's root id) is shown under this id instead. */
    static final long INO_FILE_ID_ONE = Long.MAX_VALUE - 5;

    private static final String[] TOP_NAMES = {"disk.img", "disk.vmdk", "stats.json", "files"};

    private final MountSource source;
    private final BlockDevice disk;
    private final FileIndex index;
    private final byte[] vmdk;
    private final boolean keepCacheForFiles;
    private final MountAttributes attributes;
    private final PrintStream log;
    private final long filesRootId;
    /** Node id to index node for every name under files/ (hardlinks: the first name; all share attributes). */
    private final Map<Long, FileIndex.Node> byId;
    private final ConcurrentHashMap<Long, FileExtents> extents = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, byte[]> statsSnapshots = new ConcurrentHashMap<>();
    private final AtomicLong nextStatsHandle = new AtomicLong(FH_FIRST_STATS);
    private final RequestCounters counters = new RequestCounters();

    LowLevelFs(MountSource source, boolean keepCacheForFiles, long uid, long gid, PrintStream log) {
        this.source = source;
        this.disk = source.disk();
        this.index = source.files();
        this.vmdk = source.vmdkDescriptor().getBytes(StandardCharsets.UTF_8);
        this.keepCacheForFiles = keepCacheForFiles;
        this.attributes = new MountAttributes(source, uid, gid);
        this.log = log;
        FileIndex.Node root = index.get("");
        this.filesRootId = root == null ? DcdFuse.INO_FILES_ROOT_FALLBACK : nodeId(root);
        this.byId = mapIds(index);
    }

    private static long nodeId(FileIndex.Node node) {
        return node.fileId() == FuseWire.ROOT_ID ? INO_FILE_ID_ONE : node.fileId();
    }

    /** Walks the index once: the kernel may ask about any node id the previous server process handed out. */
    private static Map<Long, FileIndex.Node> mapIds(FileIndex index) {
        Map<Long, FileIndex.Node> map = new HashMap<>(index.size() * 2);
        Deque<String> dirs = new ArrayDeque<>();
        FileIndex.Node root = index.get("");
        if (root != null) {
            map.put(nodeId(root), root);
        }
        dirs.push("");
        while (!dirs.isEmpty()) {
            String dir = dirs.pop();
            for (String name : index.list(dir)) {
                FileIndex.Node node = index.get(dir.isEmpty() ? name : dir + "/" + name);
                if (node == null) {
                    continue;
                }
                map.putIfAbsent(nodeId(node), node);
                if (node.kind() == FileIndex.Kind.DIRECTORY) {
                    dirs.push(node.path());
                }
            }
        }
        return map;
    }

    /** Requests answered by opcode and the time they took; the loop records each one ({@link LowLevelServer}). */
    RequestCounters counters() {
        return counters;
    }

    // ---------------------------------------------------------------- dispatch

    /**
     * Answers the request in {@code in} (bytes 0 to its length) into {@code out} and returns the reply's
     * length, or 0 when the operation takes no reply (FORGET, INTERRUPT). {@code out} must hold
     * {@link FuseWire#REPLY_BUFFER_BYTES}.
     */
    int handle(ByteBuffer in, ByteBuffer out) {
        in.order(ByteOrder.LITTLE_ENDIAN);
        out.order(ByteOrder.LITTLE_ENDIAN);
        int opcode = in.getInt(FuseWire.IN_OPCODE);
        long unique = in.getLong(FuseWire.IN_UNIQUE);
        long nodeId = in.getLong(FuseWire.IN_NODEID);
        int body = FuseWire.IN_HEADER_BYTES;
        int result;
        try {
            result = switch (opcode) {
                case FuseWire.INIT -> init(in, out);
                case FuseWire.LOOKUP -> lookup(nodeId, name(in, body), out);
                case FuseWire.GETATTR -> getattr(nodeId, out);
                case FuseWire.SETATTR -> setattr(nodeId, in, out);
                case FuseWire.READLINK -> readlink(nodeId, out);
                case FuseWire.OPEN -> open(nodeId, in.getInt(body + FuseWire.OPEN_IN_FLAGS), out);
                case FuseWire.READ -> read(nodeId, in.getLong(body + FuseWire.RW_FH), in.getLong(body + FuseWire.RW_OFFSET),
                        in.getInt(body + FuseWire.RW_SIZE), out);
                case FuseWire.WRITE -> write(nodeId, in.getLong(body + FuseWire.RW_FH), in.getLong(body + FuseWire.RW_OFFSET),
                        in.getInt(body + FuseWire.RW_SIZE), in, body + FuseWire.RW_IN_BYTES, out);
                case FuseWire.RELEASE -> release(in.getLong(body + FuseWire.RELEASE_FH));
                // A close has nothing to flush here (a write is in the chain when answered; durability is FSYNC's,
                // which flushes the disk): ENOSYS makes the kernel stop sending FLUSH on this connection (fc->no_flush,
                // kept across server restarts) and close() return at once - one synchronous round trip less per file
                // read (docs/benchmarks.md, "Where a cold files/ read spends its time").
                case FuseWire.FLUSH -> -ENOSYS;
                case FuseWire.RELEASEDIR, FuseWire.FSYNCDIR, FuseWire.DESTROY -> 0;
                case FuseWire.FSYNC -> fsync(nodeId);
                case FuseWire.OPENDIR -> opendir(nodeId, out);
                case FuseWire.READDIR -> readdir(nodeId, in.getLong(body + FuseWire.RW_OFFSET),
                        in.getInt(body + FuseWire.RW_SIZE), false, out);
                case FuseWire.READDIRPLUS -> readdir(nodeId, in.getLong(body + FuseWire.RW_OFFSET),
                        in.getInt(body + FuseWire.RW_SIZE), true, out);
                case FuseWire.STATFS -> statfs(out);
                case FuseWire.FALLOCATE -> fallocate(nodeId, in.getLong(body + FuseWire.FALLOCATE_OFFSET),
                        in.getLong(body + FuseWire.FALLOCATE_LENGTH), in.getInt(body + FuseWire.FALLOCATE_MODE));
                case FuseWire.MKNOD, FuseWire.MKDIR, FuseWire.SYMLINK, FuseWire.CREATE, FuseWire.TMPFILE,
                     FuseWire.LINK -> -refusalIn(nodeId);
                case FuseWire.UNLINK, FuseWire.RMDIR -> -refusalOf(nodeId, name(in, body));
                case FuseWire.RENAME -> -refusalOf(nodeId, name(in, body + 8));
                case FuseWire.RENAME2 -> -refusalOf(nodeId, name(in, body + 16));
                case FuseWire.FORGET, FuseWire.BATCH_FORGET, FuseWire.INTERRUPT -> Integer.MIN_VALUE;
                default -> -ENOSYS;
            };
        } catch (ReadOnlyDeviceException e) {
            result = -EROFS;
        } catch (IOException | RuntimeException e) {
            result = fail(what(opcode, nodeId, in, body), e);
        }
        if (result == Integer.MIN_VALUE) {
            return 0;
        }
        int length = result < 0 ? FuseWire.OUT_HEADER_BYTES : FuseWire.OUT_HEADER_BYTES + result;
        out.putInt(FuseWire.OUT_LEN, length);
        out.putInt(FuseWire.OUT_ERROR, Math.min(result, 0));
        out.putLong(FuseWire.OUT_UNIQUE, unique);
        return length;
    }

    /** The NUL-terminated name at {@code at}. */
    private static String name(ByteBuffer in, int at) {
        int end = at;
        int limit = in.getInt(FuseWire.IN_LEN);
        while (end < limit && in.get(end) != 0) {
            end++;
        }
        byte[] bytes = new byte[end - at];
        in.get(at, bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * The failed request as the serving log names it, in the words of the libfuse path ({@code DcdFuse}): "read
     * /files/a/b at 0+131072", so that one log line reads the same whichever server answered.
     */
    private String what(int opcode, long nodeId, ByteBuffer in, int body) {
        String path = pathOf(nodeId);
        return switch (opcode) {
            case FuseWire.READ, FuseWire.WRITE -> (opcode == FuseWire.READ ? "read " : "write ") + path + " at "
                    + in.getLong(body + FuseWire.RW_OFFSET) + "+" + Integer.toUnsignedLong(in.getInt(body + FuseWire.RW_SIZE));
            case FuseWire.FALLOCATE -> "fallocate " + path + " at " + in.getLong(body + FuseWire.FALLOCATE_OFFSET) + "+"
                    + in.getLong(body + FuseWire.FALLOCATE_LENGTH);
            case FuseWire.LOOKUP -> "lookup " + path + (path.endsWith("/") ? "" : "/") + name(in, body);
            case FuseWire.GETATTR -> "getattr " + path;
            case FuseWire.OPEN -> "open " + path;
            case FuseWire.FSYNC -> "fsync " + path;
            case FuseWire.READDIR, FuseWire.READDIRPLUS -> "readdir " + path;
            case FuseWire.READLINK -> "readlink " + path;
            default -> "opcode " + opcode + " on " + path;
        };
    }

    /** The mount-relative path of a node id, for the log; "node N" when the id is unknown. */
    private String pathOf(long nodeId) {
        if (nodeId == FuseWire.ROOT_ID) {
            return "/";
        }
        if (nodeId == DcdFuse.INO_DISK) {
            return "/disk.img";
        }
        if (nodeId == DcdFuse.INO_VMDK) {
            return "/disk.vmdk";
        }
        if (nodeId == DcdFuse.INO_STATS) {
            return "/stats.json";
        }
        if (nodeId == filesRootId) {
            return "/files";
        }
        FileIndex.Node node = byId.get(nodeId);
        return node == null ? "node " + nodeId : "/files/" + node.path();
    }

    private int fail(String what, Throwable e) {
        log.println("dcd-fuse: " + what + " failed, returning EIO: " + describe(e));
        return -EIO;
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.toString());
        for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) {
            sb.append(" <- ").append(c);
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- init

    private int init(ByteBuffer in, ByteBuffer out) {
        int body = FuseWire.IN_HEADER_BYTES;
        int major = in.getInt(body + FuseWire.INIT_IN_MAJOR);
        int o = FuseWire.OUT_HEADER_BYTES;
        out.put(o, new byte[FuseWire.INIT_OUT_BYTES]);
        out.putInt(o + FuseWire.INIT_OUT_MAJOR, FuseWire.KERNEL_MAJOR);
        out.putInt(o + FuseWire.INIT_OUT_MINOR, FuseWire.KERNEL_MINOR);
        if (major != FuseWire.KERNEL_MAJOR) {
            // The kernel retries with our major if it can; either way only the header matters here.
            return FuseWire.INIT_OUT_BYTES;
        }
        long offered = in.getInt(body + FuseWire.INIT_IN_FLAGS) & 0xffffffffL;
        long wanted = FuseWire.ASYNC_READ | FuseWire.BIG_WRITES | FuseWire.DO_READDIRPLUS | FuseWire.ASYNC_DIO
                | FuseWire.PARALLEL_DIROPS | FuseWire.MAX_PAGES | FuseWire.CACHE_SYMLINKS;
        out.putInt(o + FuseWire.INIT_OUT_MAX_READAHEAD, in.getInt(body + FuseWire.INIT_IN_MAX_READAHEAD));
        out.putInt(o + FuseWire.INIT_OUT_FLAGS, (int) (offered & wanted));
        out.putShort(o + FuseWire.INIT_OUT_MAX_BACKGROUND, (short) 64);
        out.putShort(o + FuseWire.INIT_OUT_CONGESTION_THRESHOLD, (short) 48);
        out.putInt(o + FuseWire.INIT_OUT_MAX_WRITE, FuseWire.MAX_WRITE);
        out.putInt(o + FuseWire.INIT_OUT_TIME_GRAN, 1);
        out.putShort(o + FuseWire.INIT_OUT_MAX_PAGES, (short) FuseWire.MAX_PAGES_NEGOTIATED);
        return FuseWire.INIT_OUT_BYTES;
    }

    // ---------------------------------------------------------------- names and attributes

    /** What a node id names: a top-level entry, the files/ root, or an index node; null if unknown. */
    private Object resolve(long nodeId) {
        if (nodeId == FuseWire.ROOT_ID || nodeId == DcdFuse.INO_DISK || nodeId == DcdFuse.INO_VMDK
                || nodeId == DcdFuse.INO_STATS) {
            return nodeId;
        }
        if (nodeId == filesRootId && nodeId == DcdFuse.INO_FILES_ROOT_FALLBACK) {
            return nodeId;
        }
        return byId.get(nodeId);
    }

    private boolean isDirectory(long nodeId) {
        Object r = resolve(nodeId);
        if (r instanceof FileIndex.Node node) {
            return node.kind() == FileIndex.Kind.DIRECTORY;
        }
        return r != null && (nodeId == FuseWire.ROOT_ID || nodeId == DcdFuse.INO_FILES_ROOT_FALLBACK);
    }

    private int lookup(long parent, String name, ByteBuffer out) {
        long child;
        if (parent == FuseWire.ROOT_ID) {
            child = switch (name) {
                case "disk.img" -> DcdFuse.INO_DISK;
                case "disk.vmdk" -> DcdFuse.INO_VMDK;
                case "stats.json" -> DcdFuse.INO_STATS;
                case "files" -> filesRootId;
                default -> 0;
            };
        } else {
            Object dir = resolve(parent);
            if (dir == null) {
                return -ENOENT;
            }
            if (!isDirectory(parent)) {
                return -ENOTDIR;
            }
            String dirPath = dir instanceof FileIndex.Node node ? node.path() : "";
            FileIndex.Node node = index.get(dirPath.isEmpty() ? name : dirPath + "/" + name);
            child = node == null ? 0 : nodeId(node);
        }
        if (child == 0) {
            // A negative entry (node id 0) with a timeout: the kernel caches the absence as it did under libfuse.
            out.put(FuseWire.OUT_HEADER_BYTES, new byte[FuseWire.ENTRY_BYTES]);
            out.putLong(FuseWire.OUT_HEADER_BYTES + FuseWire.ENTRY_VALID, VALID_SECONDS);
            return FuseWire.ENTRY_BYTES;
        }
        return entry(child, out, FuseWire.OUT_HEADER_BYTES) ? FuseWire.ENTRY_BYTES : -ENOENT;
    }

    /** Writes a fuse_entry_out for the node at {@code at}; false if the node is unknown. */
    private boolean entry(long nodeId, ByteBuffer out, int at) {
        long valid = nodeId == DcdFuse.INO_STATS ? 0 : VALID_SECONDS;
        if (!attr(nodeId, out, at + FuseWire.ENTRY_ATTR)) {
            return false;
        }
        out.putLong(at + FuseWire.ENTRY_NODEID, nodeId);
        out.putLong(at + FuseWire.ENTRY_GENERATION, 0);
        out.putLong(at + FuseWire.ENTRY_VALID, VALID_SECONDS);
        out.putLong(at + FuseWire.ENTRY_ATTR_VALID, valid);
        out.putInt(at + FuseWire.ENTRY_VALID_NSEC, 0);
        out.putInt(at + FuseWire.ENTRY_ATTR_VALID_NSEC, 0);
        return true;
    }

    private int getattr(long nodeId, ByteBuffer out) {
        int o = FuseWire.OUT_HEADER_BYTES;
        if (!attr(nodeId, out, o + FuseWire.ATTR_OUT_ATTR)) {
            return -ENOENT;
        }
        out.putLong(o + FuseWire.ATTR_OUT_VALID, nodeId == DcdFuse.INO_STATS ? 0 : VALID_SECONDS);
        out.putInt(o + FuseWire.ATTR_OUT_VALID_NSEC, 0);
        out.putInt(o + FuseWire.ATTR_OUT_VALID_NSEC + 4, 0);
        return FuseWire.ATTR_OUT_BYTES;
    }

    /** Writes a fuse_attr at {@code at}: the same attributes {@link DcdFuse#getattr} gives. */
    private boolean attr(long nodeId, ByteBuffer out, int at) {
        if (nodeId == FuseWire.ROOT_ID) {
            putAttr(out, at, nodeId, attributes.root());
        } else if (nodeId == DcdFuse.INO_DISK) {
            putAttr(out, at, nodeId, attributes.disk());
        } else if (nodeId == DcdFuse.INO_VMDK) {
            putAttr(out, at, nodeId, attributes.vmdk());
        } else if (nodeId == DcdFuse.INO_STATS) {
            putAttr(out, at, nodeId, attributes.stats());
        } else if (nodeId == DcdFuse.INO_FILES_ROOT_FALLBACK && filesRootId == nodeId) {
            putAttr(out, at, nodeId, attributes.filesFallback());
        } else {
            FileIndex.Node node = byId.get(nodeId);
            if (node == null) {
                return false;
            }
            putAttr(out, at, nodeId, MountAttributes.of(node));
        }
        return true;
    }

    private static void putAttr(ByteBuffer out, int at, long ino, MountAttributes.Attr a) {
        out.putLong(at + FuseWire.ATTR_INO, ino);
        out.putLong(at + FuseWire.ATTR_SIZE, a.size());
        out.putLong(at + FuseWire.ATTR_BLOCKS, a.blocks());
        out.putLong(at + FuseWire.ATTR_ATIME, a.seconds());
        out.putLong(at + FuseWire.ATTR_MTIME, a.seconds());
        out.putLong(at + FuseWire.ATTR_CTIME, a.seconds());
        out.putInt(at + FuseWire.ATTR_ATIMENSEC, a.nanos());
        out.putInt(at + FuseWire.ATTR_MTIMENSEC, a.nanos());
        out.putInt(at + FuseWire.ATTR_CTIMENSEC, a.nanos());
        out.putInt(at + FuseWire.ATTR_MODE, a.mode());
        out.putInt(at + FuseWire.ATTR_NLINK, a.nlink());
        out.putInt(at + FuseWire.ATTR_UID, (int) a.uid());
        out.putInt(at + FuseWire.ATTR_GID, (int) a.gid());
        out.putInt(at + FuseWire.ATTR_RDEV, 0);
        out.putInt(at + FuseWire.ATTR_BLKSIZE, MountAttributes.BLOCK_SIZE);
        out.putInt(at + FuseWire.ATTR_FLAGS, 0);
    }

    private boolean underFiles(long nodeId) {
        return nodeId == filesRootId || byId.containsKey(nodeId);
    }

    /** EROFS for new names inside files/ (read-only content), EPERM at the fixed top level. */
    private int refusalIn(long parent) {
        return underFiles(parent) ? EROFS : EPERM;
    }

    /** As {@link DcdFuse}'s refusal of a change to an existing name. */
    private int refusalOf(long parent, String name) {
        if (underFiles(parent)) {
            return EROFS;
        }
        return switch (name) {
            case "files", "disk.vmdk", "stats.json" -> EROFS;
            default -> EPERM;
        };
    }

    private int setattr(long nodeId, ByteBuffer in, ByteBuffer out) {
        int body = FuseWire.IN_HEADER_BYTES;
        int valid = in.getInt(body + FuseWire.SETATTR_VALID);
        if (resolve(nodeId) == null) {
            return -ENOENT;
        }
        int changes = valid & ~(FuseWire.FATTR_FH | FuseWire.FATTR_LOCKOWNER);
        if (nodeId == DcdFuse.INO_DISK && changes == FuseWire.FATTR_SIZE) {
            // A disk has the size it was built with; only a no-op truncate (as some tools issue) succeeds.
            return in.getLong(body + FuseWire.SETATTR_SIZE) == disk.size() ? getattr(nodeId, out) : -EPERM;
        }
        if (changes == 0) {
            return getattr(nodeId, out);
        }
        return -(nodeId == DcdFuse.INO_DISK || nodeId == FuseWire.ROOT_ID ? EPERM : EROFS);
    }

    private int readlink(long nodeId, ByteBuffer out) {
        Object r = resolve(nodeId);
        if (r == null) {
            return -ENOENT;
        }
        if (!(r instanceof FileIndex.Node node) || node.kind() != FileIndex.Kind.SYMLINK) {
            return -EINVAL;
        }
        byte[] target = node.target().getBytes(StandardCharsets.UTF_8);
        out.put(FuseWire.OUT_HEADER_BYTES, target);
        return target.length;
    }

    private int statfs(ByteBuffer out) {
        int o = FuseWire.OUT_HEADER_BYTES;
        out.put(o, new byte[FuseWire.STATFS_BYTES]);
        out.putLong(o + FuseWire.STATFS_BLOCKS, disk.size() / 4096);
        out.putLong(o + FuseWire.STATFS_FILES, index.size() + 5L);
        out.putInt(o + FuseWire.STATFS_BSIZE, 4096);
        out.putInt(o + FuseWire.STATFS_NAMELEN, 255);
        out.putInt(o + FuseWire.STATFS_FRSIZE, 4096);
        return FuseWire.STATFS_BYTES;
    }

    // ---------------------------------------------------------------- directories

    private int opendir(long nodeId, ByteBuffer out) {
        Object r = resolve(nodeId);
        if (r == null) {
            return -ENOENT;
        }
        if (!isDirectory(nodeId)) {
            return -ENOTDIR;
        }
        return openReply(out, 0, FuseWire.FOPEN_CACHE_DIR);
    }


    private int readdir(long nodeId, long offset, int size, boolean plus, ByteBuffer out) {
        Object r = resolve(nodeId);
        if (r == null) {
            return -ENOENT;
        }
        if (!isDirectory(nodeId)) {
            return -ENOTDIR;
        }
        List<String> names = new ArrayList<>();
        List<Long> ids = new ArrayList<>();
        names.add(".");
        ids.add(nodeId);
        names.add("..");
        ids.add(nodeId == FuseWire.ROOT_ID || nodeId == filesRootId ? FuseWire.ROOT_ID : parentId((FileIndex.Node) r));
        String dirPath = null;
        if (nodeId == FuseWire.ROOT_ID) {
            names.addAll(List.of(TOP_NAMES));
            ids.addAll(List.of(DcdFuse.INO_DISK, DcdFuse.INO_VMDK, DcdFuse.INO_STATS, filesRootId));
        } else {
            dirPath = r instanceof FileIndex.Node node ? node.path() : "";
            names.addAll(index.list(dirPath));
        }
        int o = FuseWire.OUT_HEADER_BYTES;
        int limit = Math.min(size, FuseWire.REPLY_BUFFER_BYTES - o);
        int used = 0;
        for (int i = (int) Math.max(0, offset); i < names.size(); i++) {
            String name = names.get(i);
            long id;
            if (i < ids.size()) {
                id = ids.get(i);
            } else {
                FileIndex.Node child = index.get(dirPath.isEmpty() ? name : dirPath + "/" + name);
                if (child == null) {
                    continue;
                }
                id = nodeId(child);
            }
            byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
            int direntBytes = FuseWire.direntSize(utf8.length);
            int need = (plus ? FuseWire.DIRENTPLUS_DIRENT : 0) + direntBytes;
            if (used + need > limit) {
                break;
            }
            int at = o + used;
            if (plus) {
                out.put(at, new byte[FuseWire.ENTRY_BYTES]);
                // "." and ".." carry no entry (node id 0): the kernel takes no lookup reference for them.
                if (i >= 2 && !entry(id, out, at)) {
                    continue;
                }
                at += FuseWire.DIRENTPLUS_DIRENT;
            }
            out.putLong(at + FuseWire.DIRENT_INO, id);
            out.putLong(at + FuseWire.DIRENT_OFF, i + 1);
            out.putInt(at + FuseWire.DIRENT_NAMELEN, utf8.length);
            out.putInt(at + FuseWire.DIRENT_TYPE, direntType(id));
            out.put(at + FuseWire.DIRENT_NAME, utf8);
            for (int p = FuseWire.DIRENT_NAME + utf8.length; p < direntBytes; p++) {
                out.put(at + p, (byte) 0);
            }
            used += need;
        }
        return used;
    }

    private long parentId(FileIndex.Node node) {
        FileIndex.Node parent = index.get(node.parent());
        return parent == null ? filesRootId : nodeId(parent);
    }

    private int direntType(long id) {
        if (id == FuseWire.ROOT_ID || id == filesRootId) {
            return DT_DIR;
        }
        FileIndex.Node node = byId.get(id);
        if (node == null) {
            return DT_REG;
        }
        return switch (node.kind()) {
            case DIRECTORY -> DT_DIR;
            case FILE -> DT_REG;
            case SYMLINK -> DT_LNK;
        };
    }

    // ---------------------------------------------------------------- open, read, write

    private static int openReply(ByteBuffer out, long fh, int flags) {
        int o = FuseWire.OUT_HEADER_BYTES;
        out.putLong(o + FuseWire.OPEN_OUT_FH, fh);
        out.putInt(o + FuseWire.OPEN_OUT_FLAGS, flags);
        out.putInt(o + FuseWire.OPEN_OUT_FLAGS + 4, 0);
        return FuseWire.OPEN_OUT_BYTES;
    }

    private int open(long nodeId, int flags, ByteBuffer out) {
        boolean readOnly = (flags & O_ACCMODE) == O_RDONLY;
        if (nodeId == DcdFuse.INO_DISK) {
            if (!readOnly && !disk.capabilities().writable()) {
                return -EROFS;
            }
            return openReply(out, FH_DISK, 0);
        }
        if (nodeId == DcdFuse.INO_VMDK) {
            return readOnly ? openReply(out, FH_VMDK, FuseWire.FOPEN_KEEP_CACHE) : -EROFS;
        }
        if (nodeId == DcdFuse.INO_STATS) {
            if (!readOnly) {
                return -EROFS;
            }
            // One snapshot per open, so that one reader sees one document; direct_io lets its real length,
            // not the size getattr saw, decide where it ends.
            long fh = nextStatsHandle.getAndIncrement();
            statsSnapshots.put(fh, source.statsJson());
            return openReply(out, fh, FuseWire.FOPEN_DIRECT_IO);
        }
        if (isDirectory(nodeId)) {
            return -EISDIR;
        }
        FileIndex.Node node = byId.get(nodeId);
        if (node == null) {
            return -ENOENT;
        }
        if (node.kind() != FileIndex.Kind.FILE) {
            return -EINVAL;
        }
        if (!readOnly) {
            return -EROFS;
        }
        return openReply(out, nodeId, keepCacheForFiles ? FuseWire.FOPEN_KEEP_CACHE : 0);
    }

    private int release(long fh) {
        if (fh >= FH_FIRST_STATS) {
            statsSnapshots.remove(fh);
        }
        return 0;
    }

    private int read(long nodeId, long fh, long offset, int size, ByteBuffer out) throws IOException {
        int o = FuseWire.OUT_HEADER_BYTES;
        int max = Math.min(size, out.capacity() - o);
        if (nodeId == DcdFuse.INO_DISK) {
            long deviceSize = disk.size();
            if (offset >= deviceSize || max <= 0) {
                return 0;
            }
            int n = (int) Math.min(max, deviceSize - offset);
            long t0 = System.nanoTime();
            disk.read(offset, out.slice(o, n));
            counters.diskRead(System.nanoTime() - t0);
            return n;
        }
        if (nodeId == DcdFuse.INO_VMDK) {
            return copy(vmdk, offset, max, out);
        }
        if (nodeId == DcdFuse.INO_STATS) {
            byte[] snapshot = fh >= FH_FIRST_STATS ? statsSnapshots.get(fh) : null;
            if (snapshot == null) {
                // Opened by an earlier server process: a fresh snapshot, kept for the rest of this handle.
                snapshot = statsSnapshots.computeIfAbsent(fh, k -> source.statsJson());
            }
            return copy(snapshot, offset, max, out);
        }
        FileIndex.Node node = byId.get(nodeId);
        if (node == null) {
            return -ENOENT;
        }
        if (node.kind() != FileIndex.Kind.FILE) {
            return -EBADF;
        }
        FileExtents fileExtents = extents.computeIfAbsent(nodeId, k -> new FileExtents(node));
        long t0 = System.nanoTime();
        int n = fileExtents.read(disk, offset, max, (at, length) -> out.slice(FuseWire.OUT_HEADER_BYTES + at, length));
        counters.diskRead(System.nanoTime() - t0);
        return n;
    }

    private static int copy(byte[] bytes, long offset, int max, ByteBuffer out) {
        if (offset >= bytes.length || max <= 0) {
            return 0;
        }
        int n = (int) Math.min(max, bytes.length - offset);
        out.put(FuseWire.OUT_HEADER_BYTES, bytes, (int) offset, n);
        return n;
    }

    private int write(long nodeId, long fh, long offset, int size, ByteBuffer in, int data, ByteBuffer out)
            throws IOException {
        if (nodeId != DcdFuse.INO_DISK) {
            return -(underFiles(nodeId) || nodeId == DcdFuse.INO_VMDK || nodeId == DcdFuse.INO_STATS ? EROFS : EBADF);
        }
        long deviceSize = disk.size();
        int n;
        if (offset >= deviceSize) {
            if (size != 0) {
                return -ENOSPC;
            }
            n = 0;
        } else {
            n = (int) Math.min(size, deviceSize - offset);
            disk.write(offset, in.slice(data, n));
        }
        out.putInt(FuseWire.OUT_HEADER_BYTES + FuseWire.WRITE_OUT_SIZE, n);
        out.putInt(FuseWire.OUT_HEADER_BYTES + FuseWire.WRITE_OUT_SIZE + 4, 0);
        return FuseWire.WRITE_OUT_BYTES;
    }

    private int fsync(long nodeId) throws IOException {
        if (nodeId == DcdFuse.INO_DISK) {
            disk.flush();
        }
        return 0;
    }

    private int fallocate(long nodeId, long offset, long length, int mode) throws IOException {
        if (nodeId != DcdFuse.INO_DISK) {
            return -(underFiles(nodeId) || nodeId == DcdFuse.INO_VMDK || nodeId == DcdFuse.INO_STATS ? EROFS : EPERM);
        }
        if (mode != FALLOC_PUNCH_HOLE_KEEP_SIZE || !disk.capabilities().trim()) {
            return -EOPNOTSUPP;
        }
        long end = Math.min(disk.size(), offset + length);
        if (offset < end) {
            disk.trim(offset, end - offset);
        }
        return 0;
    }
}
