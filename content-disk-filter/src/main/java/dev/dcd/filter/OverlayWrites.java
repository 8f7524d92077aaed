package dev.dcd.filter;

import dev.dcd.block.FileBlockDevice;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static dev.dcd.filter.OverlayFilter.DATA_FILE;
import static dev.dcd.filter.OverlayJournal.BLOCK_SHIFT;
import static dev.dcd.filter.OverlayJournal.BLOCK_SIZE;

/**
 * A generation's guest writes, read without opening the overlay for writing: no compaction, no file created,
 * so it is safe beside a mount that serves the same generation. It sees what the last completed flush made
 * durable, exactly what a crash of the serving process would leave (docs/overlay-format.md).
 */
public final class OverlayWrites {
    private static final int COPY_CHUNK = 1 << 20;

    /** A run of written blocks, as guest byte offsets. */
    public record Run(long offset, long length) {
    }

    private final List<Run> runs;
    private final long bytes;

    private OverlayWrites(List<Run> runs, long bytes) {
        this.runs = List.copyOf(runs);
        this.bytes = bytes;
    }

    /** Replays {@code dir/overlay.map} read-only; no overlay means no writes. */
    public static OverlayWrites read(Path dir, long diskSize) throws IOException {
        Path mapFile = dir.resolve(OverlayJournal.FILE);
        if (!Files.exists(mapFile)) {
            return new OverlayWrites(List.of(), 0);
        }
        BlockBitmap bitmap = new BlockBitmap((diskSize + BLOCK_SIZE - 1) >>> BLOCK_SHIFT);
        try (FileChannel map = FileChannel.open(mapFile, StandardOpenOption.READ)) {
            OverlayJournal.replay(map, mapFile, diskSize, bitmap);
        }
        List<Run> runs = new ArrayList<>();
        long[] total = {0};
        bitmap.forEachRun((first, count) -> {
            long offset = first << BLOCK_SHIFT;
            long length = Math.min(count << BLOCK_SHIFT, diskSize - offset);
            runs.add(new Run(offset, length));
            total[0] += length;
        });
        return new OverlayWrites(runs, total[0]);
    }

    public List<Run> runs() {
        return runs;
    }

    /** Bytes of the disk that read from the overlay instead of the synthesized content. */
    public long bytes() {
        return bytes;
    }

    public boolean isEmpty() {
        return runs.isEmpty();
    }

    /** Copies every written block from {@code dir/overlay.data} onto {@code dst} at the guest's offset. */
    public void copyTo(Path dir, FileChannel dst) throws IOException {
        if (runs.isEmpty()) {
            return;
        }
        Path dataFile = dir.resolve(DATA_FILE);
        ByteBuffer buffer = ByteBuffer.allocateDirect(COPY_CHUNK);
        try (FileChannel data = FileChannel.open(dataFile, StandardOpenOption.READ)) {
            for (Run run : runs) {
                for (long pos = 0; pos < run.length(); pos += COPY_CHUNK) {
                    int n = (int) Math.min(COPY_CHUNK, run.length() - pos);
                    buffer.clear().limit(n);
                    FileBlockDevice.readFully(data, run.offset() + pos, buffer, dataFile.toString());
                    buffer.flip();
                    long at = run.offset() + pos;
                    while (buffer.hasRemaining()) {
                        at += dst.write(buffer, at);
                    }
                }
            }
        }
    }
}
