package dev.dcd.backend.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Constants and message shapes of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md), the fixed newstyle
 * handshake and the transmission phase. Kept apart from the client so a server can reuse them. All integers on
 * the wire are big-endian ({@link ByteBuffer}'s default order).
 */
public final class NbdProtocol {
    private NbdProtocol() {
    }

    // ---- handshake -----------------------------------------------------------------------------------------
    /** 'NBDMAGIC', the first 8 bytes a server sends. */
    public static final long INIT_MAGIC = 0x4e42444d41474943L;
    /** 'IHAVEOPT': follows INIT_MAGIC from a newstyle server, and starts every option a client sends. */
    public static final long OPT_MAGIC = 0x49484156454f5054L;
    /** Starts every option reply. */
    public static final long OPT_REPLY_MAGIC = 0x0003e889045565a9L;

    /** Handshake flags (u16, server to client). */
    public static final int FLAG_FIXED_NEWSTYLE = 1;
    public static final int FLAG_NO_ZEROES = 1 << 1;
    /** Client flags (u32, client to server). */
    public static final int FLAG_C_FIXED_NEWSTYLE = 1;
    public static final int FLAG_C_NO_ZEROES = 1 << 1;
    /** Zero bytes after the export size in NBD_OPT_EXPORT_NAME's reply, unless NO_ZEROES was agreed. */
    public static final int EXPORT_NAME_PADDING = 124;

    /** Option types. */
    public static final int OPT_EXPORT_NAME = 1;
    public static final int OPT_ABORT = 2;
    public static final int OPT_LIST = 3;
    public static final int OPT_STARTTLS = 5;
    public static final int OPT_INFO = 6;
    public static final int OPT_GO = 7;
    public static final int OPT_STRUCTURED_REPLY = 8;
    public static final int OPT_LIST_META_CONTEXT = 9;
    public static final int OPT_SET_META_CONTEXT = 10;

    /** Option reply types; errors have bit 31 set. */
    public static final int REP_ACK = 1;
    public static final int REP_SERVER = 2;
    public static final int REP_INFO = 3;
    public static final int REP_META_CONTEXT = 4;
    public static final int REP_FLAG_ERROR = 1 << 31;
    public static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1;
    public static final int REP_ERR_POLICY = REP_FLAG_ERROR | 2;
    public static final int REP_ERR_INVALID = REP_FLAG_ERROR | 3;
    public static final int REP_ERR_PLATFORM = REP_FLAG_ERROR | 4;
    public static final int REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5;
    public static final int REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6;
    public static final int REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7;
    public static final int REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8;
    public static final int REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;

    /** Information types requested with OPT_INFO / OPT_GO and answered in REP_INFO. */
    public static final int INFO_EXPORT = 0;
    public static final int INFO_NAME = 1;
    public static final int INFO_DESCRIPTION = 2;
    public static final int INFO_BLOCK_SIZE = 3;

    /** Transmission flags (u16, in INFO_EXPORT). */
    public static final int TFLAG_HAS_FLAGS = 1;
    public static final int TFLAG_READ_ONLY = 1 << 1;
    public static final int TFLAG_SEND_FLUSH = 1 << 2;
    public static final int TFLAG_SEND_FUA = 1 << 3;
    public static final int TFLAG_ROTATIONAL = 1 << 4;
    public static final int TFLAG_SEND_TRIM = 1 << 5;
    public static final int TFLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int TFLAG_SEND_DF = 1 << 7;
    public static final int TFLAG_CAN_MULTI_CONN = 1 << 8;

    // ---- transmission --------------------------------------------------------------------------------------
    public static final int REQUEST_MAGIC = 0x25609513;
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    /** magic u32, flags u16, type u16, cookie u64, offset u64, length u32. */
    public static final int REQUEST_SIZE = 28;
    /** magic u32, error u32, cookie u64. */
    public static final int SIMPLE_REPLY_SIZE = 16;

    public static final int CMD_READ = 0;
    public static final int CMD_WRITE = 1;
    public static final int CMD_DISC = 2;
    public static final int CMD_FLUSH = 3;
    public static final int CMD_TRIM = 4;
    public static final int CMD_WRITE_ZEROES = 6;
    public static final int CMD_BLOCK_STATUS = 7;

    public static final int CMD_FLAG_FUA = 1;
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int CMD_FLAG_DF = 1 << 2;
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    // Structured replies (a server that agreed NBD_OPT_STRUCTURED_REPLY sends these).
    public static final int STRUCTURED_REPLY_SIZE = 20;
    public static final int REPLY_FLAG_DONE = 1;
    public static final int REPLY_TYPE_NONE = 0;
    public static final int REPLY_TYPE_OFFSET_DATA = 1;
    public static final int REPLY_TYPE_OFFSET_HOLE = 2;
    public static final int REPLY_TYPE_BLOCK_STATUS = 5;
    public static final int REPLY_TYPE_ERROR = 0x8001;
    /** The meta context whose block status says which ranges are holes or read as zeros. */
    public static final String BASE_ALLOCATION = "base:allocation";
    public static final int STATE_HOLE = 1;
    public static final int STATE_ZERO = 2;

    /** Error values in replies (the Linux errno numbers the spec fixes). */
    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    /** A request most servers accept in one piece (the spec's default maximum payload is 32 MiB). */
    public static final int DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;

    /** The 28-byte header of a transmission request, ready to send (a write's payload follows it). */
    public static ByteBuffer request(int flags, int type, long cookie, long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_SIZE);
        b.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset).putInt(length);
        return b.flip();
    }

    /** An option as the client sends it: IHAVEOPT, the option, the length of its data, the data. */
    public static ByteBuffer option(int option, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        b.putLong(OPT_MAGIC).putInt(option).putInt(data.length).put(data);
        return b.flip();
    }

    /** The data of OPT_INFO / OPT_GO: the export name and the information types asked for. */
    public static byte[] infoRequest(String exportName, int... infos) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + name.length + 2 + 2 * infos.length);
        b.putInt(name.length).put(name).putShort((short) infos.length);
        for (int info : infos) {
            b.putShort((short) info);
        }
        return b.array();
    }

    /** The errno name a reply error stands for, for messages. */
    public static String errorName(int error) {
        return switch (error) {
            case EPERM -> "EPERM (operation not permitted)";
            case EIO -> "EIO (input/output error)";
            case ENOMEM -> "ENOMEM (out of memory)";
            case EINVAL -> "EINVAL (invalid argument)";
            case ENOSPC -> "ENOSPC (no space left)";
            case EOVERFLOW -> "EOVERFLOW (value too large)";
            case ENOTSUP -> "ENOTSUP (not supported)";
            case ESHUTDOWN -> "ESHUTDOWN (server is shutting down)";
            default -> "error " + error;
        };
    }

    /** Option reply type names, for messages. */
    public static String replyName(int reply) {
        return switch (reply) {
            case REP_ACK -> "ACK";
            case REP_SERVER -> "SERVER";
            case REP_INFO -> "INFO";
            case REP_ERR_UNSUP -> "ERR_UNSUP (option not supported)";
            case REP_ERR_POLICY -> "ERR_POLICY (forbidden by server policy)";
            case REP_ERR_INVALID -> "ERR_INVALID (invalid option)";
            case REP_ERR_PLATFORM -> "ERR_PLATFORM (not supported on this platform)";
            case REP_ERR_TLS_REQD -> "ERR_TLS_REQD (the server requires TLS)";
            case REP_ERR_UNKNOWN -> "ERR_UNKNOWN (no such export)";
            case REP_ERR_SHUTDOWN -> "ERR_SHUTDOWN (server is shutting down)";
            case REP_ERR_BLOCK_SIZE_REQD -> "ERR_BLOCK_SIZE_REQD";
            case REP_ERR_TOO_BIG -> "ERR_TOO_BIG";
            default -> "reply " + Integer.toUnsignedString(reply);
        };
    }
}
