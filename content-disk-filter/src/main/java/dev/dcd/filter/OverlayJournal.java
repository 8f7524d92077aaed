package dev.dcd.filter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * overlay.map: which overlay blocks hold guest data, as an append-only journal of checksummed records.
 * docs/overlay-format.md describes it byte by byte. A record reaches the file only after the data it
 * covers was forced to overlay.data, so replaying the journal never exposes a block that was not written.
 */
final class OverlayJournal {
    static final String FILE = "overlay.map";
    static final byte[] MAGIC = "DCDOVLM1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int BLOCK_SIZE = 4096;
    static final int BLOCK_SHIFT = 12;

    // Header field offsets.
    static final int H_MAGIC = 0;          // 8 bytes
    static final int H_VERSION = 8;        // u32
    static final int H_BLOCK_SIZE = 12;    // u32
    static final int H_DISK_SIZE = 16;     // u64
    static final int H_RESERVED = 24;      // u32, 0
    static final int H_CRC = 28;           // u32: CRC32C of bytes [0, 28)
    static final int HEADER_SIZE = 32;

    // Record field offsets.
    static final int R_TYPE = 0;           // u8: WRITTEN or DISCARDED
    static final int R_PAD = 1;            // 3 bytes, 0
    static final int R_COUNT = 4;          // u32: blocks in the run, > 0
    static final int R_FIRST = 8;          // u64: first block
    static final int R_RESERVED = 16;      // u32, 0
    static final int R_CRC = 20;           // u32: CRC32C of bytes [0, 20)
    static final int RECORD_SIZE = 24;

    static final byte WRITTEN = 1;
    static final byte DISCARDED = 2;

    /** Compaction at open when the journal holds more records than this many per run of written blocks. */
    private static final int COMPACT_FACTOR = 2;
    private static final int COMPACT_SLACK = 64;

    private OverlayJournal() {
    }

    /** What replaying a journal found. */
    record Replay(long records, long validBytes, boolean tornTail) {
    }

    static ByteBuffer header(long diskSize) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(H_VERSION, VERSION).putInt(H_BLOCK_SIZE, BLOCK_SIZE).putLong(H_DISK_SIZE, diskSize)
                .putInt(H_RESERVED, 0);
        b.putInt(H_CRC, crc(b, 0, H_CRC));
        return b.position(0);
    }

    /** Appends one record to {@code out} (little-endian, with its checksum). */
    static void putRecord(ByteBuffer out, byte type, long first, long count) {
        int at = out.position();
        out.put(type).put((byte) 0).put((byte) 0).put((byte) 0).putInt((int) count).putLong(first).putInt(0);
        out.putInt(crc(out, at, R_CRC));
    }

    /**
     * Replays {@code file} into {@code bitmap}. A record whose checksum fails, or a partial record, ends the
     * journal: it is the torn tail of an append that never completed, and nothing after it counts.
     */
    static Replay replay(FileChannel channel, Path file, long diskSize, BlockBitmap bitmap) throws IOException {
        long size = channel.size();
        ByteBuffer head = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        if (size < HEADER_SIZE) {
            throw new IOException(file + " is too short to be an overlay map (" + size + " bytes)");
        }
        dev.dcd.block.FileBlockDevice.readFully(channel, 0, head, file.toString());
        byte[] magic = Arrays.copyOfRange(head.array(), 0, MAGIC.length);
        if (!Arrays.equals(magic, MAGIC) || head.getInt(H_CRC) != crc(head, 0, H_CRC)) {
            throw new IOException(file + " is not an overlay map (bad magic or header checksum)");
        }
        if (head.getInt(H_VERSION) != VERSION || head.getInt(H_BLOCK_SIZE) != BLOCK_SIZE) {
            throw new IOException(file + " has unsupported version " + head.getInt(H_VERSION) + " / block size "
                    + head.getInt(H_BLOCK_SIZE));
        }
        if (head.getLong(H_DISK_SIZE) != diskSize) {
            throw new IOException(file + " belongs to a disk of " + head.getLong(H_DISK_SIZE)
                    + " bytes, not this generation's " + diskSize);
        }
        ByteBuffer buf = ByteBuffer.allocate(RECORD_SIZE * 4096).order(ByteOrder.LITTLE_ENDIAN);
        long pos = HEADER_SIZE;
        long records = 0;
        while (pos < size) {
            buf.clear();
            int n = channel.read(buf, pos);
            if (n <= 0) {
                break;
            }
            buf.flip();
            while (buf.remaining() >= RECORD_SIZE) {
                int at = buf.position();
                byte type = buf.get(at + R_TYPE);
                long count = Integer.toUnsignedLong(buf.getInt(at + R_COUNT));
                long first = buf.getLong(at + R_FIRST);
                boolean valid = buf.getInt(at + R_CRC) == crc(buf, at, R_CRC)
                        && (type == WRITTEN || type == DISCARDED) && count > 0 && first >= 0
                        && first + count <= bitmap.blocks();
                if (!valid) {
                    return new Replay(records, pos, true);
                }
                bitmap.assign(first, count, type == WRITTEN);
                records++;
                pos += RECORD_SIZE;
                buf.position(at + RECORD_SIZE);
            }
            if (n < RECORD_SIZE && pos + n >= size) {
                break;
            }
        }
        return new Replay(records, pos, pos != size);
    }

    /** Whether a journal of {@code records} records describing {@code runs} runs is worth rewriting. */
    static boolean worthCompacting(long records, long runs) {
        return records > runs * COMPACT_FACTOR + COMPACT_SLACK;
    }

    /**
     * Rewrites the journal as one WRITTEN record per run of set bits: written to a temporary file, forced,
     * renamed over the old journal and the directory forced, so a crash leaves either journal, never neither.
     */
    static void compact(Path dir, long diskSize, BlockBitmap bitmap) throws IOException {
        Path tmp = dir.resolve(FILE + ".compact");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(out, header(diskSize), 0);
            ByteBuffer batch = ByteBuffer.allocate(RECORD_SIZE * 4096).order(ByteOrder.LITTLE_ENDIAN);
            long[] pos = {HEADER_SIZE};
            IOException[] failure = {null};
            bitmap.forEachRun((first, count) -> {
                for (long f = first; f < first + count; f += 0xFFFF_FFFFL) {
                    if (!batch.hasRemaining()) {
                        try {
                            pos[0] = writeFully(out, batch.flip(), pos[0]);
                        } catch (IOException e) {
                            failure[0] = e;
                        }
                        batch.clear();
                    }
                    putRecord(batch, WRITTEN, f, Math.min(0xFFFF_FFFFL, first + count - f));
                }
            });
            if (failure[0] != null) {
                throw failure[0];
            }
            writeFully(out, batch.flip(), pos[0]);
            out.force(true);
        }
        Files.move(tmp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        forceDirectory(dir);
    }

    static long writeFully(FileChannel channel, ByteBuffer src, long at) throws IOException {
        long pos = at;
        while (src.hasRemaining()) {
            pos += channel.write(src, pos);
        }
        return pos;
    }

    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    static int crc(ByteBuffer b, int from, int length) {
        CRC32C c = new CRC32C();
        c.update(b.duplicate().limit(from + length).position(from));
        return (int) c.getValue();
    }
}
