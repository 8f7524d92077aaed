package dev.dcd.shell.interactive;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The background reader over a fake mount: a directory of files and a table of the hashes they must have. */
@Timeout(60)
class BackgroundReaderTest {
    private static final long MS = 1_000_000L;

    @TempDir
    Path temp;

    /** A clock that moves only when told: every read takes no time unless a test says otherwise. */
    static final class FakeClock {
        final AtomicLong now = new AtomicLong(1_000 * MS);

        long nanos() {
            return now.get();
        }

        void advance(long nanos) {
            now.addAndGet(nanos);
        }
    }

    private Path file(String name, byte[] content) throws IOException {
        Path p = temp.resolve("files").resolve(name);
        Files.createDirectories(p.getParent());
        Files.write(p, content);
        return p;
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] sha256(byte[] content) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(content);
    }

    /** Files named a.bin, b.bin, ... with their true hashes. */
    private List<BackgroundReader.Item> goodFiles(int count, int size) throws Exception {
        List<BackgroundReader.Item> items = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            byte[] content = random(size + i * 1000, i);
            String name = (char) ('a' + i) + ".bin";
            items.add(new BackgroundReader.FileItem(file(name, content), "files/" + name, content.length, sha256(content)));
        }
        return items;
    }

    @Test
    void filesWithTheirManifestHashesReadWithoutErrorsPassAfterPass() throws Exception {
        BackgroundReader reader = BackgroundReader.builder().items(goodFiles(3, 300_000)).threads(2).build().start("t");
        assertTrue(reader.awaitPasses(3, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertEquals(0, f.errors(), String.valueOf(f.firstError()));
        assertNull(f.firstError());
        assertTrue(f.passes() >= 3, "passes " + f.passes());
        assertTrue(f.verified() >= 9, "verified " + f.verified());
        // 300,000 bytes are three 128 KiB calls; every item of every pass was read whole.
        assertTrue(f.reads() >= 9 * 3, "reads " + f.reads());
        assertTrue(f.bytes() >= 3L * (300_000 + 301_000 + 302_000), "bytes " + f.bytes());
        assertFalse(f.running());
    }

    @Test
    void aWrongByteIsAnErrorNamingTheFileAndBothHashes() throws Exception {
        List<BackgroundReader.Item> items = goodFiles(2, 10_000);
        byte[] content = random(50_000, 7);
        byte[] served = content.clone();
        served[40_000] ^= 1;
        items.add(new BackgroundReader.FileItem(file("bad.bin", served), "files/bad.bin", content.length, sha256(content)));
        BackgroundReader reader = BackgroundReader.builder().items(items).build().start("t");
        assertTrue(reader.awaitPasses(2, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertTrue(f.errors() >= 2, "one error per pass over the bad file: " + f.errors());
        assertTrue(f.firstError().startsWith("files/bad.bin: sha256 "), f.firstError());
        assertTrue(f.firstError().endsWith(", expected " + java.util.HexFormat.of().formatHex(sha256(content))), f.firstError());
        assertTrue(f.verified() >= 4, "the good files still verify: " + f.verified());
    }

    @Test
    void aMissingFileAndAShortFileAreErrorsToo() throws Exception {
        byte[] content = random(5_000, 3);
        List<BackgroundReader.Item> items = new ArrayList<>();
        items.add(new BackgroundReader.FileItem(temp.resolve("files/gone.bin"), "files/gone.bin", 5_000, sha256(content)));
        items.add(new BackgroundReader.FileItem(file("short.bin", java.util.Arrays.copyOf(content, 4_000)), "files/short.bin",
                5_000, sha256(content)));
        BackgroundReader reader = BackgroundReader.builder().items(items).build().start("t");
        assertTrue(reader.awaitPasses(1, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertTrue(f.errors() >= 2, "errors " + f.errors());
        assertEquals(0, f.verified());
        assertTrue(f.firstError().startsWith("files/gone.bin: "), f.firstError());
        assertTrue(f.firstError().contains("no such file"), f.firstError());
    }

    @Test
    void theLongestReadIsTheStallMeasuredOnTheInjectedClock() throws Exception {
        FakeClock clock = new FakeClock();
        List<BackgroundReader.Item> items = goodFiles(3, 200_000);
        Path slow = ((BackgroundReader.FileItem) items.get(1)).path();
        AtomicLong slowReads = new AtomicLong();
        BackgroundReader.Opener opener = path -> {
            FileChannel real = FileChannel.open(path, StandardOpenOption.READ);
            // The second file's first read call takes 250 ms, once; everything else takes no time at all.
            return path.equals(slow) ? new TimedChannel(real, () -> {
                if (slowReads.getAndIncrement() == 0) {
                    clock.advance(250 * MS);
                }
            }) : real;
        };
        BackgroundReader reader = BackgroundReader.builder().items(items).nanoTime(clock::nanos).opener(opener).build().start("t");
        // Two calls a file, six a pass: twenty passes make the slow call less than 1% of them.
        assertTrue(reader.awaitPasses(20, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertEquals(0, f.errors(), String.valueOf(f.firstError()));
        assertEquals(250 * MS, f.longestReadNanos());
        assertEquals(250 * MS, f.longestGapNanos(), "nothing completed during the slow read");
        assertEquals(250 * MS, f.stallNanos());
        assertTrue(f.p99Nanos() < 250 * MS, "one slow read in many is not the 99th percentile: " + f.p99Nanos());
    }

    @Test
    void aSlowOpenIsAGapBetweenCompletionsThoughNoReadWasSlow() throws Exception {
        FakeClock clock = new FakeClock();
        List<BackgroundReader.Item> items = goodFiles(2, 1_000);
        Path slow = ((BackgroundReader.FileItem) items.get(0)).path();
        AtomicLong opens = new AtomicLong();
        BackgroundReader.Opener opener = path -> {
            if (path.equals(slow) && opens.getAndIncrement() == 1) {
                clock.advance(300 * MS);
            }
            return FileChannel.open(path, StandardOpenOption.READ);
        };
        BackgroundReader reader = BackgroundReader.builder().items(items).nanoTime(clock::nanos).opener(opener).build().start("t");
        assertTrue(reader.awaitPasses(3, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertEquals(0, f.longestReadNanos());
        assertEquals(300 * MS, f.longestGapNanos());
        assertEquals(300 * MS, f.stallNanos());
    }

    @Test
    void stopIsPromptWhileReadingAndLeavesNoThreadBehind() throws Exception {
        // A stop that waited for whole files or for its timeout would take seconds; one between calls, a moment.
        BackgroundReader reader = BackgroundReader.builder().items(goodFiles(4, 2_000_000)).threads(3)
                .stopTimeout(Duration.ofSeconds(30)).build().start("prompt");
        assertTrue(reader.awaitPasses(1, Duration.ofSeconds(30)));
        long begin = System.nanoTime();
        BackgroundReader.Figures f = reader.stop();
        long took = System.nanoTime() - begin;
        assertTrue(took < 5_000 * MS, "stop took " + took / MS + " ms");
        assertEquals(0, f.stuckThreads());
        assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith("dcd-reader-prompt-")),
                "every reader thread ended");
        assertEquals(f, reader.stop(), "a second stop reports the same final figures");
    }

    @Test
    void aReadThatNeverReturnsIsReportedStuckAndCountsAsAStallInsteadOfHangingStop() throws Exception {
        FakeClock clock = new FakeClock();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(1);
        List<BackgroundReader.Item> items = goodFiles(1, 1_000);
        BackgroundReader.Opener opener = path -> new TimedChannel(FileChannel.open(path, StandardOpenOption.READ), () -> {
            entered.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        BackgroundReader reader = BackgroundReader.builder().items(items).nanoTime(clock::nanos).opener(opener)
                .stopTimeout(Duration.ofMillis(200)).build().start("stuck");
        try {
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            clock.advance(5_000 * MS);
            assertEquals(5_000 * MS, reader.figures().longestReadNanos(), "a read in progress counts while running");
            assertFalse(reader.awaitPasses(1, Duration.ofMillis(100)), "no pass completes while the read hangs");
            long begin = System.nanoTime();
            BackgroundReader.Figures f = reader.stop();
            assertTrue(System.nanoTime() - begin < 5_000 * MS, "stop gave up after its timeout");
            assertEquals(1, f.stuckThreads());
            assertEquals(5_000 * MS, f.stallNanos());
        } finally {
            release.countDown();
        }
    }

    @Test
    void diskRangesAreCheckedAgainstTheirFirstRead() throws Exception {
        byte[] content = random(3 << 20, 11);
        Path disk = file("disk.img", content);
        List<BackgroundReader.Item> slices = List.of(
                new BackgroundReader.DiskSlice(disk, "disk.img@0", 0, 1 << 20),
                new BackgroundReader.DiskSlice(disk, "disk.img@2097152", 2 << 20, 1 << 20));
        BackgroundReader reader = BackgroundReader.builder().items(slices).build().start("disk");
        assertTrue(reader.awaitPasses(2, Duration.ofSeconds(30)));
        assertEquals(0, reader.figures().errors());
        // Someone writes under the reader: the next pass sees bytes that differ from the first read.
        try (FileChannel ch = FileChannel.open(disk, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("changed".getBytes(StandardCharsets.US_ASCII)), (2 << 20) + 200_000);
        }
        assertTrue(reader.awaitPasses(1, Duration.ofSeconds(30)));
        BackgroundReader.Figures f = reader.stop();
        assertTrue(f.errors() >= 1);
        assertEquals("disk.img@2097152: the 131072 bytes at offset 2228224 differ from their first read", f.firstError());
    }

    @Test
    void diskRangesAreParsedWidenedToBlocksAndCutAtTheEnd() {
        List<long[]> r = ReaderTargets.parseRanges("0:1M, 64M:8M,100:1", 70L << 20);
        assertEquals(3, r.size());
        assertEquals(List.of(0L, 1L << 20), List.of(r.get(0)[0], r.get(0)[1]));
        assertEquals(List.of(64L << 20, 70L << 20), List.of(r.get(1)[0], r.get(1)[1]), "cut at the end of the disk");
        assertEquals(List.of(0L, 4096L), List.of(r.get(2)[0], r.get(2)[1]), "widened to a whole block");
        assertEquals(List.of(0L, 70L << 20), List.of(ReaderTargets.parseRanges("all", 70L << 20).get(0)[0],
                ReaderTargets.parseRanges("all", 70L << 20).get(0)[1]));
        for (String bad : List.of("1M", "x:1M", "0:0", "0:", ":4K", "80M:1M")) {
            try {
                ReaderTargets.parseRanges(bad, 70L << 20);
                throw new AssertionError("accepted '" + bad + "'");
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
            }
        }
    }

    /** A FileChannel that runs {@code beforeRead} ahead of each positional read and otherwise passes through. */
    static final class TimedChannel extends FileChannel {
        private final FileChannel next;
        private final Runnable beforeRead;

        TimedChannel(FileChannel next, Runnable beforeRead) {
            this.next = next;
            this.beforeRead = beforeRead;
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            beforeRead.run();
            return next.read(dst, position);
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            return next.read(dst);
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
            return next.read(dsts, offset, length);
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            return next.write(src);
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
            return next.write(srcs, offset, length);
        }

        @Override
        public long position() throws IOException {
            return next.position();
        }

        @Override
        public FileChannel position(long newPosition) throws IOException {
            next.position(newPosition);
            return this;
        }

        @Override
        public long size() throws IOException {
            return next.size();
        }

        @Override
        public FileChannel truncate(long size) throws IOException {
            next.truncate(size);
            return this;
        }

        @Override
        public void force(boolean metaData) throws IOException {
            next.force(metaData);
        }

        @Override
        public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
            return next.transferTo(position, count, target);
        }

        @Override
        public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
            return next.transferFrom(src, position, count);
        }

        @Override
        public int write(ByteBuffer src, long position) throws IOException {
            return next.write(src, position);
        }

        @Override
        public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
            return next.map(mode, position, size);
        }

        @Override
        public FileLock lock(long position, long size, boolean shared) throws IOException {
            return next.lock(position, size, shared);
        }

        @Override
        public FileLock tryLock(long position, long size, boolean shared) throws IOException {
            return next.tryLock(position, size, shared);
        }

        @Override
        protected void implCloseChannel() throws IOException {
            next.close();
        }
    }
}
