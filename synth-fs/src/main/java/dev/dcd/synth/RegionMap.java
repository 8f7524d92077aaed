package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Describes every byte of a synthesized disk: sorted, non-overlapping regions that cover {@code [0, size)}.
 * Each region is metadata (bytes on the thin image, at the same offset), app data (a range of one vdisk),
 * or zero. Lookups are binary searches over parallel primitive arrays, so 200k files cost a few MB.
 */
public final class RegionMap {
    public enum Kind { METADATA, APP_DATA, ZERO }

    /** One region; {@code vdisk} and {@code vdiskOffset} are meaningful for {@link Kind#APP_DATA} only. */
    public record Region(long start, long length, Kind kind, int vdisk, long vdiskOffset) {
        public long end() {
            return start + length;
        }
    }

    static final byte[] MAGIC = "DCDREGN2".getBytes(StandardCharsets.US_ASCII);

    private final long size;
    private final List<ContentId> vdisks;
    private final long[] starts;
    private final long[] lengths;
    private final byte[] kinds;
    private final int[] vdiskIndexes;
    private final long[] vdiskOffsets;

    RegionMap(long size, List<ContentId> vdisks, long[] starts, long[] lengths, byte[] kinds, int[] vdiskIndexes, long[] vdiskOffsets) {
        this.size = size;
        this.vdisks = List.copyOf(vdisks);
        this.starts = starts;
        this.lengths = lengths;
        this.kinds = kinds;
        this.vdiskIndexes = vdiskIndexes;
        this.vdiskOffsets = vdiskOffsets;
    }

    public long size() {
        return size;
    }

    /** The vdisks app-data regions refer to, by index. */
    public List<ContentId> vdisks() {
        return vdisks;
    }

    public int regionCount() {
        return starts.length;
    }

    public Region region(int index) {
        return new Region(starts[index], lengths[index], KINDS[kinds[index]], vdiskIndexes[index], vdiskOffsets[index]);
    }

    /** Index of the region containing {@code offset}. */
    public int indexOf(long offset) {
        if (offset < 0 || offset >= size) {
            throw new IndexOutOfBoundsException("offset " + offset + " outside disk of " + size + " bytes");
        }
        int i = Arrays.binarySearch(starts, offset);
        return i >= 0 ? i : -i - 2;
    }

    public Region find(long offset) {
        return region(indexOf(offset));
    }

    public List<Region> regions() {
        List<Region> all = new ArrayList<>(starts.length);
        for (int i = 0; i < starts.length; i++) {
            all.add(region(i));
        }
        return all;
    }

    public long bytesOf(Kind kind) {
        long total = 0;
        for (int i = 0; i < starts.length; i++) {
            if (kinds[i] == kind.ordinal()) {
                total += lengths[i];
            }
        }
        return total;
    }

    public int countOf(Kind kind) {
        int n = 0;
        for (byte k : kinds) {
            if (k == kind.ordinal()) {
                n++;
            }
        }
        return n;
    }

    // ---- regions.bin, format 2: docs/region-map-format.md describes it byte by byte. Little-endian. ----

    static final byte[] MAGIC_V1 = "DCDREGN1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 2;

    // Header, HEADER_SIZE bytes at offset 0.
    static final int H_MAGIC = 0;            // 8 bytes, ASCII DCDREGN2
    static final int H_VERSION = 8;          // u32, 2
    static final int H_FLAGS = 12;           // u32, 0
    static final int H_DISK_SIZE = 16;       // u64: bytes the regions cover
    static final int H_VDISK_COUNT = 24;     // u32: V
    static final int H_REGION_COUNT = 28;    // u32: R
    static final int H_BODY_LENGTH = 32;     // u64: 32 * V + 32 * R
    static final int H_BODY_CRC = 40;        // u32: CRC32C of the body
    static final int H_CRC = 44;             // u32: CRC32C of bytes [0, 44)
    static final int HEADER_SIZE = 48;

    /** Each vdisk of the body's table is its 32-byte content id. */
    static final int VDISK_RECORD = 32;

    // Region record, REGION_RECORD bytes each, after the vdisk table.
    static final int R_START = 0;            // u64
    static final int R_LENGTH = 8;           // u64, > 0
    static final int R_KIND = 16;            // u8: 0 metadata, 1 app data, 2 zero (Kind's ordinal)
    static final int R_PAD = 17;             // 3 bytes, 0
    static final int R_VDISK = 20;           // u32: vdisk table index; NO_VDISK for metadata and zero
    static final int R_VDISK_OFFSET = 24;    // u64: byte of the vdisk the region starts at; 0 unless app data
    static final int REGION_RECORD = 32;

    static final int NO_VDISK = -1;

    /** Format 1 (dcd before the region map had a header checksum): 24-byte header, 29-byte records, no CRC. */
    private static final int V1_HEADER = 8 + 8 + 4 + 4;
    private static final int V1_RECORD = 8 + 8 + 1 + 4 + 8;

    /** The file's bytes, format 2; {@link #save} writes exactly these. */
    byte[] encode() {
        int bodyLength = vdisks.size() * VDISK_RECORD + starts.length * REGION_RECORD;
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + bodyLength).order(ByteOrder.LITTLE_ENDIAN);
        b.position(HEADER_SIZE);
        for (ContentId id : vdisks) {
            b.put(id.bytes());
        }
        for (int i = 0; i < starts.length; i++) {
            int at = b.position();
            b.putLong(at + R_START, starts[i]).putLong(at + R_LENGTH, lengths[i]).put(at + R_KIND, kinds[i])
                    .putInt(at + R_VDISK, kinds[i] == APP_DATA ? vdiskIndexes[i] : NO_VDISK)
                    .putLong(at + R_VDISK_OFFSET, kinds[i] == APP_DATA ? vdiskOffsets[i] : 0);
            b.position(at + REGION_RECORD);
        }
        b.put(H_MAGIC, MAGIC).putInt(H_VERSION, VERSION).putInt(H_FLAGS, 0).putLong(H_DISK_SIZE, size)
                .putInt(H_VDISK_COUNT, vdisks.size()).putInt(H_REGION_COUNT, starts.length)
                .putLong(H_BODY_LENGTH, bodyLength)
                .putInt(H_BODY_CRC, Checks.crc32c(b.array(), HEADER_SIZE, bodyLength))
                .putInt(H_CRC, Checks.crc32c(b.array(), 0, H_CRC));
        return b.array();
    }

    private static final byte APP_DATA = (byte) Kind.APP_DATA.ordinal();

    public void save(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(encode());
        // A generation is only recorded once its map is on stable storage: a map lost in a crash would make
        // every app read of a recorded generation fail. fdatasync covers a new file's data and size.
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        }
    }

    /**
     * Reads and checks a region map: header and body checksums, then every region (sorted, contiguous, covering
     * the disk, known kinds, vdisk indexes inside the table). Format 1 files of older generations have no
     * checksums and are read with the same structural checks. Anything wrong is one line naming the file.
     */
    public static RegionMap load(Path file) throws IOException {
        byte[] bytes = Checks.readAll(file, "region map");
        try {
            return decode(file, bytes);
        } catch (BufferUnderflowException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw Checks.damaged(file, "region map", "it is cut short or malformed");
        }
    }

    private static RegionMap decode(Path file, byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 8) {
            throw Checks.damaged(file, "region map", "it holds " + bytes.length + " bytes, too few for a header");
        }
        byte[] magic = Arrays.copyOf(bytes, 8);
        if (Arrays.equals(magic, MAGIC_V1)) {
            return decodeV1(file, b);
        }
        if (!Arrays.equals(magic, MAGIC)) {
            throw Checks.damaged(file, "region map", "it does not start with the magic " + new String(MAGIC,
                    StandardCharsets.US_ASCII));
        }
        if (bytes.length < HEADER_SIZE) {
            throw Checks.damaged(file, "region map", "it holds " + bytes.length + " bytes, too few for a header");
        }
        if (b.getInt(H_CRC) != Checks.crc32c(bytes, 0, H_CRC)) {
            throw Checks.damaged(file, "region map", "its header checksum does not match");
        }
        if (b.getInt(H_VERSION) != VERSION || b.getInt(H_FLAGS) != 0) {
            throw Checks.damaged(file, "region map", "it has format version " + b.getInt(H_VERSION) + " flags "
                    + b.getInt(H_FLAGS) + "; this dcd reads version " + VERSION + " (and 1)");
        }
        long size = b.getLong(H_DISK_SIZE);
        long vdiskCount = Integer.toUnsignedLong(b.getInt(H_VDISK_COUNT));
        long count = Integer.toUnsignedLong(b.getInt(H_REGION_COUNT));
        long bodyLength = b.getLong(H_BODY_LENGTH);
        if (bodyLength != vdiskCount * VDISK_RECORD + count * REGION_RECORD || bodyLength != bytes.length - HEADER_SIZE) {
            throw Checks.damaged(file, "region map", "it holds " + bytes.length + " bytes where its header describes "
                    + (HEADER_SIZE + vdiskCount * VDISK_RECORD + count * REGION_RECORD));
        }
        if (b.getInt(H_BODY_CRC) != Checks.crc32c(bytes, HEADER_SIZE, (int) bodyLength)) {
            throw Checks.damaged(file, "region map", "its body checksum does not match");
        }
        b.position(HEADER_SIZE);
        List<ContentId> ids = readIds(b, (int) vdiskCount);
        int n = (int) count;
        long[] starts = new long[n];
        long[] lengths = new long[n];
        byte[] kinds = new byte[n];
        int[] indexes = new int[n];
        long[] offsets = new long[n];
        for (int i = 0; i < n; i++) {
            int at = b.position() + i * REGION_RECORD;
            starts[i] = b.getLong(at + R_START);
            lengths[i] = b.getLong(at + R_LENGTH);
            kinds[i] = b.get(at + R_KIND);
            indexes[i] = b.getInt(at + R_VDISK);
            offsets[i] = b.getLong(at + R_VDISK_OFFSET);
            if (b.get(at + R_PAD) != 0 || b.get(at + R_PAD + 1) != 0 || b.get(at + R_PAD + 2) != 0) {
                throw Checks.damaged(file, "region map", "region " + i + " has non-zero padding");
            }
        }
        return validated(file, size, ids, starts, lengths, kinds, indexes, offsets);
    }

    private static RegionMap decodeV1(Path file, ByteBuffer b) throws IOException {
        int length = b.limit();
        if (length < V1_HEADER) {
            throw Checks.damaged(file, "region map", "it holds " + length + " bytes, too few for a header");
        }
        b.position(8);
        long size = b.getLong();
        long vdiskCount = Integer.toUnsignedLong(b.getInt());
        long count = Integer.toUnsignedLong(b.getInt());
        if (V1_HEADER + vdiskCount * VDISK_RECORD + count * V1_RECORD != length) {
            throw Checks.damaged(file, "region map", "it holds " + length + " bytes where its header describes "
                    + (V1_HEADER + vdiskCount * VDISK_RECORD + count * V1_RECORD));
        }
        List<ContentId> ids = readIds(b, (int) vdiskCount);
        int n = (int) count;
        long[] starts = new long[n];
        long[] lengths = new long[n];
        byte[] kinds = new byte[n];
        int[] indexes = new int[n];
        long[] offsets = new long[n];
        for (int i = 0; i < n; i++) {
            starts[i] = b.getLong();
            lengths[i] = b.getLong();
            kinds[i] = b.get();
            indexes[i] = b.getInt();
            offsets[i] = b.getLong();
            if (kinds[i] != APP_DATA && (indexes[i] != NO_VDISK || offsets[i] != 0)) {
                // Format 1 wrote -1 and 0 here too; anything else is damage.
                throw Checks.damaged(file, "region map", "region " + i + " is not app data but names a vdisk");
            }
        }
        return validated(file, size, ids, starts, lengths, kinds, indexes, offsets);
    }

    private static List<ContentId> readIds(ByteBuffer b, int count) {
        List<ContentId> ids = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            byte[] id = new byte[VDISK_RECORD];
            b.get(id);
            ids.add(ContentId.of(id));
        }
        return ids;
    }

    /** Every rule a map that {@link RegionMapBuilder} built keeps, checked on what was read from a file. */
    private static RegionMap validated(Path file, long size, List<ContentId> ids, long[] starts, long[] lengths,
                                       byte[] kinds, int[] indexes, long[] offsets) throws IOException {
        if (size <= 0) {
            throw Checks.damaged(file, "region map", "it describes a disk of " + size + " bytes");
        }
        if (starts.length == 0) {
            throw Checks.damaged(file, "region map", "it has no regions");
        }
        long cursor = 0;
        for (int i = 0; i < starts.length; i++) {
            String region = "region " + i;
            if (starts[i] != cursor) {
                throw Checks.damaged(file, "region map", region + " starts at " + starts[i] + ", not at " + cursor
                        + " where the one before ends");
            }
            if (lengths[i] <= 0 || lengths[i] > size - cursor) {
                throw Checks.damaged(file, "region map", region + " has length " + lengths[i] + " (the disk has "
                        + (size - cursor) + " bytes left)");
            }
            if (kinds[i] < 0 || kinds[i] >= KINDS.length) {
                throw Checks.damaged(file, "region map", region + " has unknown kind " + kinds[i]);
            }
            if (kinds[i] == APP_DATA) {
                if (indexes[i] < 0 || indexes[i] >= ids.size()) {
                    throw Checks.damaged(file, "region map", region + " names vdisk " + Integer.toUnsignedString(indexes[i])
                            + " of " + ids.size());
                }
                if (offsets[i] < 0 || offsets[i] > Long.MAX_VALUE - lengths[i]) {
                    throw Checks.damaged(file, "region map", region + " has vdisk offset " + offsets[i]);
                }
            } else if (indexes[i] != NO_VDISK || offsets[i] != 0) {
                throw Checks.damaged(file, "region map", region + " is not app data but names a vdisk");
            }
            cursor += lengths[i];
        }
        if (cursor != size) {
            throw Checks.damaged(file, "region map", "its regions end at " + cursor + ", not at the disk's end "
                    + size);
        }
        return new RegionMap(size, ids, starts, lengths, kinds, indexes, offsets);
    }

    private static final Kind[] KINDS = Kind.values();
}
