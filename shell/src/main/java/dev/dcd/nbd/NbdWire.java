package dev.dcd.nbd;

/**
 * The numbers of the NBD protocol that the server side speaks, named as in the protocol document
 * (github.com/NetworkBlockDevice/nbd, doc/proto.md). Every value on the wire is big-endian.
 * docs/nbd-export.md lists the subset this server implements and the byte layout of each message.
 */
final class NbdWire {
    private NbdWire() {
    }

    // ---- handshake
    /** "NBDMAGIC": the first eight bytes the server sends. */
    static final long NBDMAGIC = 0x4e42444d41474943L;
    /** "IHAVEOPT": newstyle negotiation, and the prefix of every option the client sends. */
    static final long IHAVEOPT = 0x49484156454f5054L;
    /** Prefix of every option reply. */
    static final long REPLY_MAGIC = 0x0003e889045565a9L;

    static final int FLAG_FIXED_NEWSTYLE = 1;
    static final int FLAG_NO_ZEROES = 1 << 1;
    static final int CLIENT_FLAG_FIXED_NEWSTYLE = 1;
    static final int CLIENT_FLAG_NO_ZEROES = 1 << 1;
    /** The padding after NBD_OPT_EXPORT_NAME's reply unless both sides agreed on NO_ZEROES. */
    static final int EXPORT_NAME_PADDING = 124;

    // ---- options
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_STARTTLS = 5;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;
    static final int OPT_STRUCTURED_REPLY = 8;
    static final int OPT_LIST_META_CONTEXT = 9;
    static final int OPT_SET_META_CONTEXT = 10;

    // ---- option replies
    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_META_CONTEXT = 4;
    static final int REP_ERR_UNSUP = 0x80000001;
    static final int REP_ERR_POLICY = 0x80000002;
    static final int REP_ERR_INVALID = 0x80000003;
    static final int REP_ERR_UNKNOWN = 0x80000006;
    static final int REP_ERR_TOO_BIG = 0x80000009;

    static final int INFO_EXPORT = 0;
    static final int INFO_NAME = 1;
    static final int INFO_DESCRIPTION = 2;
    static final int INFO_BLOCK_SIZE = 3;

    // ---- transmission flags (16 bits, sent with the export's size)
    static final int TFLAG_HAS_FLAGS = 1;
    static final int TFLAG_READ_ONLY = 1 << 1;
    static final int TFLAG_SEND_FLUSH = 1 << 2;
    static final int TFLAG_SEND_FUA = 1 << 3;
    static final int TFLAG_SEND_TRIM = 1 << 5;
    static final int TFLAG_SEND_WRITE_ZEROES = 1 << 6;
    static final int TFLAG_SEND_DF = 1 << 7;
    static final int TFLAG_CAN_MULTI_CONN = 1 << 8;

    // ---- requests
    static final int REQUEST_MAGIC = 0x25609513;
    /** magic(4) flags(2) type(2) cookie(8) offset(8) length(4). */
    static final int REQUEST_SIZE = 28;
    static final int CMD_FLAG_FUA = 1;
    static final int CMD_FLAG_NO_HOLE = 1 << 1;
    static final int CMD_FLAG_DF = 1 << 2;
    static final int CMD_FLAG_REQ_ONE = 1 << 3;
    static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;
    static final int CMD_TRIM = 4;
    static final int CMD_WRITE_ZEROES = 6;
    static final int CMD_BLOCK_STATUS = 7;

    // ---- replies
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    /** magic(4) error(4) cookie(8). */
    static final int SIMPLE_REPLY_SIZE = 16;
    static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    /** magic(4) flags(2) type(2) cookie(8) length(4). */
    static final int STRUCTURED_REPLY_SIZE = 20;
    static final int REPLY_FLAG_DONE = 1;
    static final int REPLY_TYPE_NONE = 0;
    static final int REPLY_TYPE_OFFSET_DATA = 1;
    static final int REPLY_TYPE_BLOCK_STATUS = 5;
    static final int REPLY_TYPE_ERROR = 0x8001;

    /** The one metadata context served, and the id this server gives it. */
    static final String BASE_ALLOCATION = "base:allocation";
    static final int BASE_ALLOCATION_ID = 1;
    static final int STATE_HOLE = 1;
    static final int STATE_ZERO = 2;

    // ---- errors (Linux errno values, as the protocol fixes them)
    static final int EPERM = 1;
    static final int EIO = 5;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;
    static final int EOVERFLOW = 75;
    static final int ENOTSUP = 95;
    static final int ESHUTDOWN = 108;

    // ---- limits of this server
    /** Largest READ or WRITE payload: 32 MiB, as nbdkit and qemu use. */
    static final int MAX_PAYLOAD = 32 << 20;
    /** Largest option payload accepted; names are at most 4096 bytes, so this is generous. */
    static final int MAX_OPTION = 64 << 10;
    static final int MAX_NAME = 4096;
    /** Block sizes announced with NBD_INFO_BLOCK_SIZE: any byte, 4 KiB preferred (the overlay's block). */
    static final int MIN_BLOCK = 1;
    static final int PREFERRED_BLOCK = 4096;
}
