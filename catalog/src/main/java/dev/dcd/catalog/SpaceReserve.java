package dev.dcd.catalog;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Room kept for the catalog's own writes, so the commands that free space ({@code disk discard},
 * {@code catalog gc}, {@code catalog rm}) still work when {@code $DCD_HOME} is full. A writing RocksDB
 * instance needs a few blocks whenever it opens (a new MANIFEST, WAL and OPTIONS file, a flush of the
 * last WAL) — without them the open fails with "While appending to MANIFEST… No space left on device".
 *
 * <p>The reserve is a plain file of {@link #SIZE} real (not sparse) zero bytes in the catalog directory.
 * Before a write opens the catalog on a nearly full filesystem the reserve is deleted, giving its blocks
 * back; once the filesystem has room again, a later write's close writes it anew.
 */
final class SpaceReserve {
    static final String FILE_NAME = "dcd-space.reserve";
    /** Several times what one catalog write session needs with a catalog of thousands of apps. */
    static final long SIZE = 8L << 20;
    private static final int CHUNK = 1 << 20;

    private final Path file;

    SpaceReserve(Path catalogDir) {
        this.file = catalogDir.resolve(FILE_NAME);
    }

    Path file() {
        return file;
    }

    boolean present() {
        return Files.isRegularFile(file);
    }

    /** Gives the reserve back when free space is below its size; true when it did. */
    boolean releaseIfLow() {
        try {
            if (present() && Files.getFileStore(file).getUsableSpace() < SIZE) {
                return release();
            }
        } catch (IOException e) {
            return release();
        }
        return false;
    }

    /** Deletes the reserve; true when there was one. */
    boolean release() {
        try {
            return Files.deleteIfExists(file);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Writes the reserve if it is missing and the filesystem has room for it twice over, so keeping it
     * never takes the last free bytes. Best effort: a failure leaves no partial file behind.
     */
    void replenish() {
        if (present()) {
            return;
        }
        try {
            Path dir = file.getParent();
            if (Files.getFileStore(dir).getUsableSpace() < 2 * SIZE) {
                return;
            }
            Path tmp = dir.resolve(FILE_NAME + ".tmp");
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer zeros = ByteBuffer.allocate(CHUNK);
                for (long written = 0; written < SIZE; written += CHUNK) {
                    zeros.clear();
                    while (zeros.hasRemaining()) {
                        channel.write(zeros);
                    }
                }
                channel.force(true);
            } catch (IOException e) {
                Files.deleteIfExists(tmp);
                return;
            }
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // best effort: the reserve is a safety margin, not a condition of any write
        }
    }
}
