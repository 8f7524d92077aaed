package dev.dcd.tests.ext4;

import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A generated app holding every attribute and shape the ext4 layout has a special case for. */
final class EdgeCaseApp {
    static final long T = 1_700_000_000L;
    static final long BIG_FILE = (130L << 20) + 12345;
    static final int WIDE_DIR = 10_500;

    private EdgeCaseApp() {
    }

    static SealedVdisk write(Path vdisk) throws IOException {
        try (VdiskWriter w = VdiskWriter.create(vdisk, "edge", "1", 1L << 40)) {
            w.directory("edge", 0755, 0, 0, T, 0);
            w.file("edge/setuid", 04755, 0, 0, T, 1, text("setuid"), -1);
            w.file("edge/setgid", 02711, 0, 50, T, 2, text("setgid"), -1);
            w.file("edge/both", 06555, 0, 0, T, 3, text("both"), -1);
            w.file("edge/nothing", 0, 0, 0, T, 4, text("unreadable but present"), -1);
            w.directory("edge/sticky", 01777, 0, 0, T, 5);
            w.directory("edge/private", 0700, 1000, 1000, T, 6);
            w.file("edge/high-ids", 0640, 100_000, 200_000, T, 7, text("high ids"), -1);
            w.file("edge/id-65536", 0640, 65_536, 65_535, T, 8, text("just over 16 bits"), -1);
            w.file("edge/nanos", 0644, 0, 0, T, 999_999_999, text("nanos"), -1);
            w.file("edge/epoch", 0644, 0, 0, 0, 0, text("1970"), -1);
            w.file("edge/year-2100", 0644, 0, 0, 4_102_444_800L, 500, text("after 2038"), -1);
            w.file("edge/empty", 0644, 0, 0, T, 0, text(""), -1);
            w.file("edge/one-block", 0644, 0, 0, T, 0, new ByteArrayInputStream(new byte[4096]), 4096);
            w.file("edge/one-block-and-a-byte", 0644, 0, 0, T, 0, new ByteArrayInputStream(new byte[4097]), 4097);
            w.symlink("edge/fast-link", "setuid", 0, 0, T, 9);
            w.symlink("edge/link-59", "x".repeat(59), 0, 0, T, 10);
            w.symlink("edge/link-60", "y".repeat(60), 0, 0, T, 11);
            w.symlink("edge/slow-link", "../" + "long-target-name/".repeat(20) + "end", 5, 6, T, 12);
            w.symlink("edge/dangling", "/nowhere/at/all", 0, 0, T, 13);
            w.file("edge/linked", 0755, 33, 33, T, 14, text("three names"), -1);
            w.hardlink("edge/linked-2", "edge/linked");
            w.hardlink("edge/sticky/linked-3", "edge/linked");
            w.file("edge/ünïcødé-名前-🦀.txt", 0644, 0, 0, T, 15, text("unicode"), -1);
            w.directory("edge/Ω-dir", 0755, 0, 0, T, 16);
            w.file("edge/Ω-dir/" + "n".repeat(255), 0644, 0, 0, T, 17, text("longest name"), -1);
            StringBuilder deep = new StringBuilder("edge/deep");
            for (int i = 0; i < 60; i++) {
                deep.append("/level-").append(i);
            }
            w.file(deep + "/bottom", 0644, 0, 0, T, 18, text("deep"), -1);
            w.file("edge/big", 0644, 0, 0, T, 19, pattern(BIG_FILE), BIG_FILE);
            for (int i = 0; i < WIDE_DIR; i++) {
                String name = String.format("edge/wide/entry-%05d-%s", i, "abcdefghij".substring(0, i % 10));
                if (i % 1000 == 999) {
                    // Bytes >= 0x80 hash differently as signed and unsigned chars: the htree must use signed.
                    name = String.format("edge/wide/ünïcødé-%05d-日本語-🦀", i);
                }
                if (i % 10 == 0) {
                    w.symlink(name, "target-" + i, 0, 0, T, 0);
                } else if (i % 10 == 1) {
                    w.directory(name, 0755, 0, 0, T, 0);
                } else {
                    w.file(name, 0644, 0, 0, T, 0, text("wide " + (i % 97)), -1);
                }
            }
            return w.finish();
        }
    }

    static InputStream text(String s) {
        return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
    }

    /** Real, non-repeating bytes every 4 KiB (so a misplaced block shows) and zeros between. */
    static InputStream pattern(long length) {
        return new InputStream() {
            long pos;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (pos >= length) {
                    return -1;
                }
                int n = (int) Math.min(len, length - pos);
                for (int i = 0; i < n; i++) {
                    long p = pos + i;
                    int inBlock = (int) (p & 4095);
                    b[off + i] = inBlock < 8 ? (byte) ((p >>> 12) >>> (8 * inBlock)) : inBlock == 8 ? (byte) 0xA5 : 0;
                }
                pos += n;
                return n;
            }
        };
    }
}
