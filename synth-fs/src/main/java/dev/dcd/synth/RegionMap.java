package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
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

    static final byte[] MAGIC = "DCDREGN1".getBytes(StandardCharsets.US_ASCII);

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
        return new Region(starts[index], lengths[index], Kind.values()[kinds[index]], vdiskIndexes[index], vdiskOffsets[index]);
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

    // File layout: magic, u64 size, u32 vdisk count, u32 region count, vdisk ids (32 bytes each),
    // then per region: u64 start, u64 length, u8 kind, u32 vdisk index, u64 vdisk offset. Little-endian.
    private static final int REGION_RECORD = 8 + 8 + 1 + 4 + 8;

    public void save(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + 8 + 4 + 4 + vdisks.size() * 32 + starts.length * REGION_RECORD)
                .order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putLong(size).putInt(vdisks.size()).putInt(starts.length);
        for (ContentId id : vdisks) {
            b.put(id.bytes());
        }
        for (int i = 0; i < starts.length; i++) {
            b.putLong(starts[i]).putLong(lengths[i]).put(kinds[i]).putInt(vdiskIndexes[i]).putLong(vdiskOffsets[i]);
        }
        // A generation is only recorded once its map is on stable storage: a map lost in a crash would make
        // every app read of a recorded generation fail. fdatasync covers a new file's data and size.
        b.flip();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        }
    }

    public static RegionMap load(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new IOException(file + " is not a region map");
        }
        long size = b.getLong();
        int vdiskCount = b.getInt();
        int count = b.getInt();
        List<ContentId> ids = new ArrayList<>();
        for (int i = 0; i < vdiskCount; i++) {
            byte[] id = new byte[32];
            b.get(id);
            ids.add(ContentId.of(id));
        }
        long[] starts = new long[count];
        long[] lengths = new long[count];
        byte[] kinds = new byte[count];
        int[] indexes = new int[count];
        long[] offsets = new long[count];
        for (int i = 0; i < count; i++) {
            starts[i] = b.getLong();
            lengths[i] = b.getLong();
            kinds[i] = b.get();
            indexes[i] = b.getInt();
            offsets[i] = b.getLong();
        }
        return new RegionMap(size, ids, starts, lengths, kinds, indexes, offsets);
    }
}
