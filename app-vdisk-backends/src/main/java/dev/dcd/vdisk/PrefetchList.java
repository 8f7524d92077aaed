package dev.dcd.vdisk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.BitSet;
import java.util.zip.CRC32C;

/**
 * A start-up trace of one app vdisk: the checksum chunks a VM read in the first seconds after its first read of the
 * app, in the order of those first reads. Replayed into the shared cache on the next mount of any VM that has the app
 * (Nydus's prefetch table, eStargz's landmark files). Keyed by content id, so a list is never used for a different
 * app version. The byte layout is docs/prefetch.md; every field is checked by {@link #decode} before use.
 */
public record PrefetchList(ContentId contentId, int windowSeconds, int[] chunks) {
    public static final byte[] MAGIC = "DCDPFL01".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    public static final int HEADER_SIZE = 64;
    public static final int ENTRY_SIZE = 4;

    static final int P_MAGIC = 0;
    static final int P_VERSION = 8;
    static final int P_FLAGS = 10;
    static final int P_CHUNK_SIZE = 12;
    static final int P_CONTENT_ID = 16;
    static final int P_COUNT = 48;
    static final int P_WINDOW_SECONDS = 52;
    static final int P_BODY_CRC = 56;
    static final int P_CRC = 60;
    /** Offset of the chunk number inside one entry. */
    static final int E_CHUNK = 0;

    public PrefetchList {
        if (contentId == null || chunks == null) {
            throw new IllegalArgumentException("a prefetch list needs a content id and chunks");
        }
        if (windowSeconds < 0) {
            throw new IllegalArgumentException("negative window: " + windowSeconds);
        }
        chunks = chunks.clone();
        BitSet seen = new BitSet();
        for (int c : chunks) {
            if (c < 0 || seen.get(c)) {
                throw new IllegalArgumentException("prefetch list entries must be distinct chunk numbers >= 0: " + c);
            }
            seen.set(c);
        }
    }

    @Override
    public int[] chunks() {
        return chunks.clone();
    }

    public int size() {
        return chunks.length;
    }

    /** Bytes of app data the list names (every chunk counted as a whole 64 KiB chunk; the last may be shorter). */
    public long dataBytes() {
        return (long) chunks.length * VdiskFormat.CHECKSUM_CHUNK;
    }

    /** The stored form: header, entries, all covered by CRC32C. */
    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + ENTRY_SIZE * chunks.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(P_MAGIC, MAGIC);
        b.putShort(P_VERSION, (short) VERSION);
        b.putShort(P_FLAGS, (short) 0);
        b.putInt(P_CHUNK_SIZE, VdiskFormat.CHECKSUM_CHUNK);
        b.put(P_CONTENT_ID, contentId.bytes());
        b.putInt(P_COUNT, chunks.length);
        b.putInt(P_WINDOW_SECONDS, windowSeconds);
        for (int i = 0; i < chunks.length; i++) {
            b.putInt(HEADER_SIZE + ENTRY_SIZE * i, chunks[i]);
        }
        byte[] bytes = b.array();
        b.putInt(P_BODY_CRC, crc(bytes, HEADER_SIZE, bytes.length));
        b.putInt(P_CRC, crc(bytes, 0, P_CRC));
        return bytes;
    }

    /**
     * Reads a stored list and checks every field: magic, header CRC, version, flags, chunk size, length, body CRC,
     * that it names {@code expected}, and that its entries are distinct chunks of a vdisk with {@code chunkCount}
     * chunks ({@code -1}: not known here). Any failure is one line naming {@code where}.
     */
    public static PrefetchList decode(byte[] bytes, ContentId expected, int chunkCount, String where) throws IOException {
        if (bytes.length < HEADER_SIZE) {
            throw damaged(where, "it holds " + bytes.length + " bytes, less than its " + HEADER_SIZE + "-byte header");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (!Arrays.equals(Arrays.copyOfRange(bytes, P_MAGIC, P_MAGIC + MAGIC.length), MAGIC)) {
            throw damaged(where, "it does not start with " + new String(MAGIC, StandardCharsets.US_ASCII));
        }
        if (b.getInt(P_CRC) != crc(bytes, 0, P_CRC)) {
            throw damaged(where, "its header checksum does not match");
        }
        int version = b.getShort(P_VERSION) & 0xffff;
        if (version != VERSION || b.getShort(P_FLAGS) != 0) {
            throw damaged(where, "version " + version + " flags " + (b.getShort(P_FLAGS) & 0xffff)
                    + " (this dcd reads version " + VERSION + ", flags 0)");
        }
        if (b.getInt(P_CHUNK_SIZE) != VdiskFormat.CHECKSUM_CHUNK) {
            throw damaged(where, "chunk size " + Integer.toUnsignedString(b.getInt(P_CHUNK_SIZE)) + " is not "
                    + VdiskFormat.CHECKSUM_CHUNK);
        }
        long count = b.getInt(P_COUNT) & 0xffffffffL;
        if (HEADER_SIZE + ENTRY_SIZE * count != bytes.length) {
            throw damaged(where, count + " entries need " + (HEADER_SIZE + ENTRY_SIZE * count) + " bytes, it holds "
                    + bytes.length);
        }
        if (b.getInt(P_BODY_CRC) != crc(bytes, HEADER_SIZE, bytes.length)) {
            throw damaged(where, "its entries' checksum does not match");
        }
        byte[] id = Arrays.copyOfRange(bytes, P_CONTENT_ID, P_CONTENT_ID + ContentId.BYTES);
        ContentId named = ContentId.of(id);
        if (expected != null && !named.equals(expected)) {
            throw damaged(where, "it belongs to vdisk " + named.shortHex() + ", not " + expected.shortHex());
        }
        int window = b.getInt(P_WINDOW_SECONDS);
        if (window < 0) {
            throw damaged(where, "negative window " + window);
        }
        int[] chunks = new int[(int) count];
        BitSet seen = new BitSet();
        for (int i = 0; i < chunks.length; i++) {
            int c = b.getInt(HEADER_SIZE + ENTRY_SIZE * i);
            if (c < 0 || (chunkCount >= 0 && c >= chunkCount)) {
                throw damaged(where, "entry " + i + " names chunk " + Integer.toUnsignedString(c) + " of a vdisk with "
                        + chunkCount + " chunks");
            }
            if (seen.get(c)) {
                throw damaged(where, "entry " + i + " repeats chunk " + c);
            }
            seen.set(c);
            chunks[i] = c;
        }
        return new PrefetchList(named, window, chunks);
    }

    private static IOException damaged(String where, String what) {
        return new IOException("prefetch list " + where + " is damaged: " + what
                + "; 'dcd catalog prefetch clear' drops it and the next mount records a new one");
    }

    private static int crc(byte[] bytes, int from, int to) {
        CRC32C c = new CRC32C();
        c.update(bytes, from, to - from);
        return (int) c.getValue();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PrefetchList p && p.contentId.equals(contentId) && p.windowSeconds == windowSeconds
                && Arrays.equals(p.chunks, chunks);
    }

    @Override
    public int hashCode() {
        return contentId.hashCode() * 31 + Arrays.hashCode(chunks);
    }

    @Override
    public String toString() {
        return "PrefetchList[" + contentId.shortHex() + ", " + chunks.length + " chunks, " + windowSeconds + " s]";
    }
}
