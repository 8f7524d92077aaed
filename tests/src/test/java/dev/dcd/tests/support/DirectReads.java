package dev.dcd.tests.support;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Reads through a mount with O_DIRECT, so the bytes come from the serving process, not the page cache. */
public final class DirectReads {
    /** O_DIRECT wants buffer addresses, offsets and lengths aligned to the logical block size. */
    private static final int ALIGNMENT = 4096;
    /** Whole 128 KiB calls, a FUSE request each. */
    private static final int CALL = 128 << 10;

    private DirectReads() {
    }

    /** Reads every file of {@code expected} (paths under {@code mnt/files}) and checks its SHA-256. */
    public static void assertEveryFile(Path mnt, Map<String, String> expected, String when) throws IOException {
        for (Map.Entry<String, String> e : expected.entrySet()) {
            assertEquals(e.getValue(), sha256(mnt.resolve("files").resolve(e.getKey())), e.getKey() + " " + when);
        }
    }

    /** The file's SHA-256, read with O_DIRECT in aligned 128 KiB calls. */
    public static String sha256(Path file) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect(CALL + ALIGNMENT).alignedSlice(ALIGNMENT);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ, com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
            long size = in.size();
            long pos = 0;
            while (pos < size) { // a read at the unaligned end of the file would be refused
                buffer.clear();
                int n = in.read(buffer, pos);
                if (n <= 0) {
                    break;
                }
                buffer.flip();
                sha.update(buffer);
                pos += n;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
