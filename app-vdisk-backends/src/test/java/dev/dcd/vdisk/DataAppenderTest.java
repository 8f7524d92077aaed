package dev.dcd.vdisk;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class DataAppenderTest {
    private static final long BASE = VdiskFormat.HEADER_SIZE;

    @TempDir
    Path temp;

    @Test
    void bytesLandInOrderAtTheirOffsetsWhateverTheReadSizes() throws Exception {
        byte[] data = new byte[5 * DataAppender.BUFFER + 777];
        new Random(5).nextBytes(data);
        Path file = temp.resolve("order");
        try (FileChannel channel = open(file)) {
            DataAppender appender = new DataAppender(channel, "order", BASE);
            InputStream in = new TricklingStream(data);
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            while (appender.read(in, digest) >= 0) {
                // reads of every size, some crossing buffer ends
            }
            appender.finish();
            assertArrayEquals(MessageDigest.getInstance("SHA-256").digest(data), digest.digest());
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertArrayEquals(data, Arrays.copyOfRange(onDisk, (int) BASE, onDisk.length));
    }

    @Test
    void aFailedWriteFailsTheAppenderInsteadOfHangingIt() throws Exception {
        byte[] data = new byte[8 * DataAppender.BUFFER];
        try (ForceWatch channel = new ForceWatch(open(temp.resolve("enospc")), false, true)) {
            DataAppender appender = new DataAppender(channel, "enospc", BASE);
            IOException e = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> assertThrows(IOException.class, () -> {
                InputStream in = new ByteArrayInputStream(data);
                MessageDigest digest = MessageDigest.getInstance("SHA-256");
                while (appender.read(in, digest) >= 0) {
                    // the writes fail on the other thread; a later buffer or finish says so
                }
                appender.finish();
            }));
            assertTrue(e.getMessage().contains("ENOSPC from the test"), e.getMessage());
            appender.abandon();
        }
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /** Hands out its bytes in reads of 1 to 100,000 bytes, as a decompressor does. */
    private static final class TricklingStream extends InputStream {
        private final byte[] data;
        private final Random sizes = new Random(9);
        private int at;

        TricklingStream(byte[] data) {
            this.data = data;
        }

        @Override
        public int read() {
            return at < data.length ? data[at++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (at == data.length) {
                return -1;
            }
            int n = Math.min(Math.min(len, data.length - at), 1 + sizes.nextInt(100_000));
            System.arraycopy(data, at, b, off, n);
            at += n;
            return n;
        }
    }
}
