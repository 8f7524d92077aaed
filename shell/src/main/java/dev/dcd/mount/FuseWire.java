package dev.dcd.mount;

/**
 * The kernel's FUSE protocol as this server speaks it: opcodes, flags and the byte offsets of every struct
 * of {@code <linux/fuse.h>} (protocol 7.x, little-endian, LP64) that {@link LowLevelFs} reads or writes.
 * Each block of offsets names its struct and its total size; a request is {@code fuse_in_header} followed by
 * the operation's struct (and for some, a NUL-terminated name or the write's data), a reply is
 * {@code fuse_out_header} followed by the operation's reply struct or data.
 */
final class FuseWire {
    private FuseWire() {
    }

    static final int KERNEL_MAJOR = 7;
    /** The minor we answer with: 7.40 has FUSE_NOTIFY_RESEND; the kernel takes the smaller of both minors. */
    static final int KERNEL_MINOR = 40;
    static final long ROOT_ID = 1;

    // struct fuse_in_header (40 bytes)
    static final int IN_LEN = 0;          // u32 total length of the request
    static final int IN_OPCODE = 4;       // u32
    static final int IN_UNIQUE = 8;       // u64 request id, echoed in the reply
    static final int IN_NODEID = 16;      // u64
    static final int IN_UID = 24;         // u32
    static final int IN_GID = 28;         // u32
    static final int IN_PID = 32;         // u32
    static final int IN_HEADER_BYTES = 40;

    // struct fuse_out_header (16 bytes)
    static final int OUT_LEN = 0;         // u32 total length of the reply
    static final int OUT_ERROR = 4;       // i32 0 or -errno; for a notification (unique 0) the notify code
    static final int OUT_UNIQUE = 8;      // u64
    static final int OUT_HEADER_BYTES = 16;

    // opcodes (enum fuse_opcode)
    static final int LOOKUP = 1;
    static final int FORGET = 2;
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int READLINK = 5;
    static final int SYMLINK = 6;
    static final int MKNOD = 8;
    static final int MKDIR = 9;
    static final int UNLINK = 10;
    static final int RMDIR = 11;
    static final int RENAME = 12;
    static final int LINK = 13;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int CREATE = 35;
    static final int INTERRUPT = 36;
    static final int DESTROY = 38;
    static final int BATCH_FORGET = 42;
    static final int FALLOCATE = 43;
    static final int READDIRPLUS = 44;
    static final int RENAME2 = 45;
    static final int TMPFILE = 51;

    /** The opcode's name without the FUSE_ prefix ("READ"), or "opcode N" for one this server does not name. */
    static String opcodeName(int opcode) {
        return switch (opcode) {
            case LOOKUP -> "LOOKUP";
            case FORGET -> "FORGET";
            case GETATTR -> "GETATTR";
            case SETATTR -> "SETATTR";
            case READLINK -> "READLINK";
            case OPEN -> "OPEN";
            case READ -> "READ";
            case WRITE -> "WRITE";
            case STATFS -> "STATFS";
            case RELEASE -> "RELEASE";
            case FSYNC -> "FSYNC";
            case FLUSH -> "FLUSH";
            case INIT -> "INIT";
            case OPENDIR -> "OPENDIR";
            case READDIR -> "READDIR";
            case RELEASEDIR -> "RELEASEDIR";
            case INTERRUPT -> "INTERRUPT";
            case BATCH_FORGET -> "BATCH_FORGET";
            case FALLOCATE -> "FALLOCATE";
            case READDIRPLUS -> "READDIRPLUS";
            default -> "opcode " + opcode;
        };
    }

    // struct fuse_init_in (64 bytes since 7.36; older kernels send 16)
    static final int INIT_IN_MAJOR = 0;
    static final int INIT_IN_MINOR = 4;
    static final int INIT_IN_MAX_READAHEAD = 8;
    static final int INIT_IN_FLAGS = 12;
    static final int INIT_IN_FLAGS2 = 16;

    // struct fuse_init_out (64 bytes)
    static final int INIT_OUT_MAJOR = 0;
    static final int INIT_OUT_MINOR = 4;
    static final int INIT_OUT_MAX_READAHEAD = 8;
    static final int INIT_OUT_FLAGS = 12;
    static final int INIT_OUT_MAX_BACKGROUND = 16;       // u16
    static final int INIT_OUT_CONGESTION_THRESHOLD = 18; // u16
    static final int INIT_OUT_MAX_WRITE = 20;
    static final int INIT_OUT_TIME_GRAN = 24;
    static final int INIT_OUT_MAX_PAGES = 28;            // u16
    static final int INIT_OUT_FLAGS2 = 32;
    static final int INIT_OUT_BYTES = 64;

    // init flags (low word; flags2 holds bits 32 and up)
    static final long ASYNC_READ = 1L;
    static final long BIG_WRITES = 1L << 5;
    static final long DO_READDIRPLUS = 1L << 13;
    static final long ASYNC_DIO = 1L << 15;
    static final long PARALLEL_DIROPS = 1L << 18;
    static final long MAX_PAGES = 1L << 22;
    static final long CACHE_SYMLINKS = 1L << 23;
    static final long INIT_EXT = 1L << 30;
    static final long HAS_RESEND = 1L << 39;

    /** enum fuse_notify_code: move every request the connection's servers had read back to the pending queue. */
    static final int NOTIFY_RESEND = 7;

    // struct fuse_attr (88 bytes)
    static final int ATTR_INO = 0;
    static final int ATTR_SIZE = 8;
    static final int ATTR_BLOCKS = 16;
    static final int ATTR_ATIME = 24;
    static final int ATTR_MTIME = 32;
    static final int ATTR_CTIME = 40;
    static final int ATTR_ATIMENSEC = 48;
    static final int ATTR_MTIMENSEC = 52;
    static final int ATTR_CTIMENSEC = 56;
    static final int ATTR_MODE = 60;
    static final int ATTR_NLINK = 64;
    static final int ATTR_UID = 68;
    static final int ATTR_GID = 72;
    static final int ATTR_RDEV = 76;
    static final int ATTR_BLKSIZE = 80;
    static final int ATTR_FLAGS = 84;
    static final int ATTR_BYTES = 88;

    // struct fuse_entry_out (128 bytes): nodeid, generation, entry_valid, attr_valid, their nsecs, fuse_attr
    static final int ENTRY_NODEID = 0;
    static final int ENTRY_GENERATION = 8;
    static final int ENTRY_VALID = 16;
    static final int ENTRY_ATTR_VALID = 24;
    static final int ENTRY_VALID_NSEC = 32;
    static final int ENTRY_ATTR_VALID_NSEC = 36;
    static final int ENTRY_ATTR = 40;
    static final int ENTRY_BYTES = 128;

    // struct fuse_attr_out (104 bytes)
    static final int ATTR_OUT_VALID = 0;
    static final int ATTR_OUT_VALID_NSEC = 8;
    static final int ATTR_OUT_ATTR = 16;
    static final int ATTR_OUT_BYTES = 104;

    // struct fuse_setattr_in (88 bytes)
    static final int SETATTR_VALID = 0;
    static final int SETATTR_SIZE = 16;
    static final int FATTR_MODE = 1;
    static final int FATTR_UID = 1 << 1;
    static final int FATTR_GID = 1 << 2;
    static final int FATTR_SIZE = 1 << 3;
    static final int FATTR_ATIME = 1 << 4;
    static final int FATTR_MTIME = 1 << 5;
    static final int FATTR_FH = 1 << 6;
    static final int FATTR_LOCKOWNER = 1 << 9;
    static final int FATTR_CTIME = 1 << 10;

    // struct fuse_open_in (8 bytes) / fuse_open_out (16 bytes)
    static final int OPEN_IN_FLAGS = 0;
    static final int OPEN_OUT_FH = 0;
    static final int OPEN_OUT_FLAGS = 8;
    static final int OPEN_OUT_BYTES = 16;
    static final int FOPEN_DIRECT_IO = 1;
    static final int FOPEN_KEEP_CACHE = 1 << 1;
    static final int FOPEN_CACHE_DIR = 1 << 3;

    // struct fuse_read_in and fuse_write_in (40 bytes each); readdir uses fuse_read_in
    static final int RW_FH = 0;
    static final int RW_OFFSET = 8;
    static final int RW_SIZE = 16;
    static final int RW_IN_BYTES = 40;
    // struct fuse_write_out (8 bytes)
    static final int WRITE_OUT_SIZE = 0;
    static final int WRITE_OUT_BYTES = 8;

    // struct fuse_release_in (24 bytes): fh first
    static final int RELEASE_FH = 0;

    // struct fuse_fallocate_in (32 bytes)
    static final int FALLOCATE_FH = 0;
    static final int FALLOCATE_OFFSET = 8;
    static final int FALLOCATE_LENGTH = 16;
    static final int FALLOCATE_MODE = 24;

    // struct fuse_kstatfs (80 bytes) = fuse_statfs_out
    static final int STATFS_BLOCKS = 0;
    static final int STATFS_BFREE = 8;
    static final int STATFS_BAVAIL = 16;
    static final int STATFS_FILES = 24;
    static final int STATFS_FFREE = 32;
    static final int STATFS_BSIZE = 40;
    static final int STATFS_NAMELEN = 44;
    static final int STATFS_FRSIZE = 48;
    static final int STATFS_BYTES = 80;

    // struct fuse_dirent: ino, off (of the next entry), namelen, type, name; padded to 8 bytes
    static final int DIRENT_INO = 0;
    static final int DIRENT_OFF = 8;
    static final int DIRENT_NAMELEN = 16;
    static final int DIRENT_TYPE = 20;
    static final int DIRENT_NAME = 24;
    /** struct fuse_direntplus: a fuse_entry_out, then a fuse_dirent. */
    static final int DIRENTPLUS_DIRENT = ENTRY_BYTES;

    /** Largest request payload we negotiate: 256 pages (the kernel's FUSE_MAX_MAX_PAGES). */
    static final int MAX_PAGES_NEGOTIATED = 256;
    static final int MAX_WRITE = MAX_PAGES_NEGOTIATED * 4096;
    /** A read(2) of /dev/fuse needs room for the largest write request: header, fuse_write_in and the data. */
    static final int REQUEST_BUFFER_BYTES = MAX_WRITE + 4096;
    static final int REPLY_BUFFER_BYTES = MAX_WRITE + 4096;

    static int direntSize(int nameLength) {
        return (DIRENT_NAME + nameLength + 7) & ~7;
    }
}
