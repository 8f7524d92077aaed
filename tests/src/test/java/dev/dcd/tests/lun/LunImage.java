package dev.dcd.tests.lun;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * An independent reader of a LUN image (a copy made with nbdcopy, or the file nbdkit serves), written from
 * docs/san-backend.md alone: it shares no code with dcd, so it checks what dcd wrote against what the doc says.
 */
public record LunImage(long generation, List<Extent> extents, List<long[]> free) {
    public record Extent(String contentId, long offset, long length, long allocated) {
    }

    public static LunImage read(Path image) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            ByteBuffer best = null;
            for (long at : new long[]{0, 4096}) {
                ByteBuffer h = block(f, at, 4096);
                byte[] covered = new byte[88];
                h.get(0, covered);
                CRC32C crc = new CRC32C();
                crc.update(covered);
                boolean valid = new String(covered, 0, 8, StandardCharsets.US_ASCII).equals("DCDLUNHD")
                        && (int) crc.getValue() == h.getInt(88);
                if (valid && (best == null || h.getLong(16) > best.getLong(16))) {
                    best = h;
                }
            }
            if (best == null) {
                throw new IOException("no valid dcd header in " + image);
            }
            long generation = best.getLong(16);
            ByteBuffer t = block(f, best.getLong(32), best.getInt(40));
            CRC32C crc = new CRC32C();
            crc.update(t.duplicate());
            if ((int) crc.getValue() != best.getInt(44)) {
                throw new IOException("table CRC mismatch");
            }
            int extents = t.getInt(16);
            int frees = t.getInt(20);
            List<Extent> list = new ArrayList<>();
            for (int i = 0; i < extents; i++) {
                int at = 32 + 64 * i;
                byte[] id = new byte[32];
                t.get(at, id);
                list.add(new Extent(HexFormat.of().formatHex(id), t.getLong(at + 32), t.getLong(at + 40), t.getLong(at + 48)));
            }
            List<long[]> free = new ArrayList<>();
            for (int i = 0; i < frees; i++) {
                int at = 32 + 64 * extents + 16 * i;
                free.add(new long[]{t.getLong(at), t.getLong(at + 8)});
            }
            return new LunImage(generation, list, free);
        }
    }

    public Extent extent(String contentId) {
        return extents.stream().filter(e -> e.contentId().equals(contentId)).findFirst()
                .orElseThrow(() -> new AssertionError("no extent for " + contentId + " in " + extents));
    }

    public long allocated() {
        return extents.stream().mapToLong(Extent::allocated).sum();
    }

    private static ByteBuffer block(RandomAccessFile f, long at, int length) throws IOException {
        byte[] b = new byte[length];
        f.seek(at);
        f.readFully(b);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
