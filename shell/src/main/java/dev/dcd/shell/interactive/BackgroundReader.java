package dev.dcd.shell.interactive;

import dev.dcd.filter.LatencyHistogram;
import dev.dcd.shell.ErrorLine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import java.util.zip.CRC32C;

/**
 * Reads a mounted VM in a loop on background threads and checks every byte: each file of {@code files/} against
 * the sha256 its app's manifest gives, each range of {@code disk.img} against what the first read of it returned.
 * It records reads, bytes, errors (with the first one's text) and stalls: the longest single read call and the
 * longest gap between two completed reads of any thread, which is what a VM notices while an app's backend is
 * switched under it.
 *
 * <p>Work is one cyclic list of items (files and disk slices) that the threads take in turn by sequence number;
 * a <em>pass</em> is one turn over the list. Items are read in {@link #CHUNK}-byte calls, each timed on the
 * injected clock. Stopping is prompt: threads look at the stop flag between calls, and a read that does not
 * return within the stop timeout is reported as stuck instead of waited for.
 */
final class BackgroundReader {
    /** Bytes per read call: FUSE's largest single request, so each call is one request to the serving process. */
    static final int CHUNK = 128 * 1024;
    /** O_DIRECT wants buffer address, file offset and length aligned to the logical block size. */
    static final int ALIGNMENT = 4096;
    /** Disk ranges are checked in slices of this many bytes (one work item each). */
    static final int DISK_SLICE = 1 << 20;
    /** After a failed item a thread waits this long (or until stopped), so a dead mount is not spun on. */
    static final Duration ERROR_BACKOFF = Duration.ofMillis(10);
    private static final long IDLE = Long.MAX_VALUE;

    /** One unit of work. */
    sealed interface Item permits FileItem, DiskSlice {
        String label();
    }

    /** A file of the mount that must have {@code size} bytes whose SHA-256 is {@code sha256}. */
    record FileItem(Path path, String label, long size, byte[] sha256) implements Item {
        FileItem {
            Objects.requireNonNull(path);
            sha256 = sha256.clone();
        }
    }

    /**
     * A slice of a disk image: {@code length} bytes at {@code offset}, checked chunk by chunk against the CRC32C of
     * the chunk's first read (kept in {@code baseline}, -1 until then).
     */
    record DiskSlice(Path path, String label, long offset, int length, AtomicLongArray baseline) implements Item {
        DiskSlice(Path path, String label, long offset, int length) {
            this(path, label, offset, length, unset((length + CHUNK - 1) / CHUNK));
        }

        private static AtomicLongArray unset(int chunks) {
            AtomicLongArray a = new AtomicLongArray(chunks);
            for (int i = 0; i < chunks; i++) {
                a.set(i, -1);
            }
            return a;
        }
    }

    /** Opens a file for the reader; {@link #DIRECT} bypasses the page cache where the filesystem allows. */
    @FunctionalInterface
    interface Opener {
        FileChannel open(Path path) throws IOException;

        /**
         * O_DIRECT, so that every pass reaches the serving process and through it the backend (a dcd mount keeps
         * file pages cached across opens); plain reads where the filesystem refuses O_DIRECT.
         */
        Opener DIRECT = path -> {
            try {
                return FileChannel.open(path, StandardOpenOption.READ, com.sun.nio.file.ExtendedOpenOption.DIRECT);
            } catch (IOException | UnsupportedOperationException e) {
                return FileChannel.open(path, StandardOpenOption.READ);
            }
        };
    }

    /** What the reader has seen so far; times in nanoseconds. */
    record Figures(long reads, long bytes, long verified, long passes, long errors, String firstError,
                   long longestReadNanos, long longestGapNanos, long p50Nanos, long p99Nanos, long elapsedNanos,
                   boolean running, int stuckThreads) {
        /** The longest stall: a single read call, or a gap between completions, whichever was longer. */
        long stallNanos() {
            return Math.max(longestReadNanos, longestGapNanos);
        }
    }

    private final List<Item> items;
    private final int threads;
    private final LongSupplier nanoTime;
    private final Opener opener;
    private final Duration stopTimeout;

    private final AtomicLong nextSeq = new AtomicLong();
    private final Object claimLock = new Object();
    private final Object progress = new Object();
    private final LongAdder reads = new LongAdder();
    private final LongAdder bytes = new LongAdder();
    private final LongAdder verified = new LongAdder();
    private final LongAdder completedItems = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final AtomicReference<String> firstError = new AtomicReference<>();
    private final AtomicLong longestRead = new AtomicLong();
    private final AtomicLong longestGap = new AtomicLong();
    private final AtomicLong lastCompletion = new AtomicLong();
    private final LatencyHistogram latency = new LatencyHistogram();
    private final List<Worker> workers = new ArrayList<>();
    private volatile boolean stopping;
    private long startedAt;
    private long stoppedAt = -1;

    private BackgroundReader(Builder b) {
        this.items = List.copyOf(b.items);
        this.threads = b.threads;
        this.nanoTime = b.nanoTime;
        this.opener = b.opener;
        this.stopTimeout = b.stopTimeout;
    }

    static Builder builder() {
        return new Builder();
    }

    static final class Builder {
        private final List<Item> items = new ArrayList<>();
        private int threads = 1;
        private LongSupplier nanoTime = System::nanoTime;
        private Opener opener = Opener.DIRECT;
        private Duration stopTimeout = Duration.ofSeconds(10);

        Builder items(List<? extends Item> items) {
            this.items.addAll(items);
            return this;
        }

        Builder threads(int threads) {
            if (threads < 1 || threads > 64) {
                throw new IllegalArgumentException("--threads must be between 1 and 64, got " + threads);
            }
            this.threads = threads;
            return this;
        }

        /** The clock every read and gap is timed on (tests inject one they advance). */
        Builder nanoTime(LongSupplier nanoTime) {
            this.nanoTime = Objects.requireNonNull(nanoTime);
            return this;
        }

        Builder opener(Opener opener) {
            this.opener = Objects.requireNonNull(opener);
            return this;
        }

        /** How long {@link #stop()} waits for a read in progress before it reports the thread as stuck. */
        Builder stopTimeout(Duration stopTimeout) {
            this.stopTimeout = Objects.requireNonNull(stopTimeout);
            return this;
        }

        BackgroundReader build() {
            if (items.isEmpty()) {
                throw new IllegalArgumentException("nothing to read");
            }
            return new BackgroundReader(this);
        }
    }

    int itemCount() {
        return items.size();
    }

    int threads() {
        return threads;
    }

    /** Starts the threads (daemons: a reader never keeps the JVM alive). */
    synchronized BackgroundReader start(String name) {
        if (!workers.isEmpty()) {
            throw new IllegalStateException("already started");
        }
        startedAt = nanoTime.getAsLong();
        lastCompletion.set(startedAt);
        for (int i = 0; i < threads; i++) {
            Worker w = new Worker();
            Thread t = new Thread(w, "dcd-reader-" + name + "-" + (i + 1));
            t.setDaemon(true);
            w.thread = t;
            workers.add(w);
        }
        workers.forEach(w -> w.thread.start());
        return this;
    }

    /**
     * Stops the threads and returns the final figures. Each thread finishes the read call it is in; one that
     * has not returned within the stop timeout is left behind (a daemon) and counted as stuck, its read still
     * open counting as a stall.
     */
    Figures stop() throws InterruptedException {
        synchronized (this) {
            if (stoppedAt >= 0) {
                return figures();
            }
            stopping = true;
        }
        synchronized (progress) {
            progress.notifyAll();
        }
        long deadline = System.nanoTime() + stopTimeout.toNanos();
        for (Worker w : workers) {
            long left = deadline - System.nanoTime();
            if (left > 0) {
                w.thread.join(Math.max(1, left / 1_000_000));
            }
        }
        synchronized (this) {
            stoppedAt = nanoTime.getAsLong();
        }
        return figures();
    }

    boolean running() {
        return !stopping;
    }

    /**
     * Waits until {@code passes} whole passes have been read that all started after this call (so every file was
     * read again after whatever happened just before), the reader stops, or the timeout ends.
     *
     * @return true when the passes were read
     */
    boolean awaitPasses(int passes, Duration timeout) throws InterruptedException {
        long target;
        synchronized (claimLock) {
            target = nextSeq.get() + (long) passes * items.size();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (progress) {
            while (!doneBelow(target)) {
                long left = deadline - System.nanoTime();
                if (stopping || left <= 0) {
                    return doneBelow(target);
                }
                progress.wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    /** True when every item with a sequence number below {@code target} is finished. */
    private boolean doneBelow(long target) {
        synchronized (claimLock) {
            if (nextSeq.get() < target) {
                return false;
            }
            for (Worker w : workers) {
                if (w.inFlightSeq < target) {
                    return false;
                }
            }
            return true;
        }
    }

    /** The figures now: while running, a read still in progress counts with the time it has taken so far. */
    Figures figures() {
        long now;
        boolean live;
        synchronized (this) {
            live = stoppedAt < 0;
            now = live ? nanoTime.getAsLong() : stoppedAt;
        }
        long read = longestRead.get();
        int stuck = 0;
        for (Worker w : workers) {
            long since = w.readSince;
            if (since != IDLE) {
                read = Math.max(read, now - since);
                if (!live) {
                    stuck++;
                }
            }
        }
        long gap = longestGap.get();
        if (live || stuck > 0) {
            gap = Math.max(gap, now - lastCompletion.get());
        }
        long[] counts = latency.counts();
        long done = completedItems.sum();
        return new Figures(reads.sum(), bytes.sum(), verified.sum(), done / items.size(), errors.sum(), firstError.get(),
                read, gap, LatencyHistogram.percentile(counts, 0.50), LatencyHistogram.percentile(counts, 0.99),
                now - startedAt, live && !stopping, stuck);
    }

    private void error(String text) {
        errors.increment();
        firstError.compareAndSet(null, text);
    }

    private final class Worker implements Runnable {
        Thread thread;
        /** Sequence number of the item in progress; {@link #IDLE} between items (read under claimLock). */
        volatile long inFlightSeq = IDLE;
        /** Clock reading when the read call in progress began; {@link #IDLE} outside read calls. */
        volatile long readSince = IDLE;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK + ALIGNMENT).alignedSlice(ALIGNMENT);
        private final MessageDigest digest = sha256();
        private final CRC32C crc = new CRC32C();

        @Override
        public void run() {
            while (!stopping) {
                long seq;
                synchronized (claimLock) {
                    seq = nextSeq.getAndIncrement();
                    inFlightSeq = seq;
                }
                Item item = items.get((int) (seq % items.size()));
                boolean ok;
                try {
                    ok = item instanceof FileItem f ? readFile(f) : readSlice((DiskSlice) item);
                } catch (IOException | RuntimeException e) {
                    error(item.label() + ": " + ErrorLine.of(e));
                    ok = false;
                } finally {
                    readSince = IDLE;
                }
                if (ok) {
                    verified.increment();
                }
                completedItems.increment();
                inFlightSeq = IDLE;
                synchronized (progress) {
                    progress.notifyAll();
                    if (!ok && !stopping) {
                        try {
                            progress.wait(ERROR_BACKOFF.toMillis());
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }
            }
        }

        /**
         * One read call of up to {@code length} bytes (rounded up to the alignment O_DIRECT needs) at
         * {@code position}, timed; returns the bytes read (-1 at the end) with the buffer flipped for use.
         */
        private int timedRead(FileChannel channel, long position, int length) throws IOException {
            buffer.clear();
            buffer.limit(Math.min(CHUNK, (length + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT));
            long begin = nanoTime.getAsLong();
            readSince = begin;
            int n = channel.read(buffer, position);
            long end = nanoTime.getAsLong();
            readSince = IDLE;
            long took = end - begin;
            latency.record(took);
            longestRead.accumulateAndGet(took, Math::max);
            long previous = lastCompletion.getAndSet(end);
            longestGap.accumulateAndGet(end - previous, Math::max);
            reads.increment();
            if (n > 0) {
                bytes.add(n);
            }
            buffer.flip();
            return n;
        }

        private boolean readFile(FileItem f) throws IOException {
            digest.reset();
            long position = 0;
            try (FileChannel channel = opener.open(f.path())) {
                while (!stopping) {
                    int n = timedRead(channel, position, CHUNK);
                    if (n <= 0) {
                        break;
                    }
                    digest.update(buffer);
                    position += n;
                    if (position > f.size()) {
                        error(f.label() + ": more than the " + f.size() + " bytes its manifest gives");
                        return false;
                    }
                    // A short read is the end: reading on at an unaligned end offset would fail under O_DIRECT.
                    if (n < CHUNK) {
                        break;
                    }
                }
            }
            if (stopping && position < f.size()) {
                return false;
            }
            if (position != f.size()) {
                error(f.label() + ": " + position + " bytes, expected " + f.size());
                return false;
            }
            byte[] actual = digest.digest();
            if (!Arrays.equals(actual, f.sha256())) {
                error(f.label() + ": sha256 " + HexFormat.of().formatHex(actual) + ", expected "
                        + HexFormat.of().formatHex(f.sha256()));
                return false;
            }
            return true;
        }

        private boolean readSlice(DiskSlice d) throws IOException {
            try (FileChannel channel = opener.open(d.path())) {
                for (int chunk = 0; chunk * (long) CHUNK < d.length() && !stopping; chunk++) {
                    long at = d.offset() + (long) chunk * CHUNK;
                    int want = (int) Math.min(CHUNK, d.length() - (long) chunk * CHUNK);
                    int n = timedRead(channel, at, want);
                    if (n < want) {
                        error(d.label() + ": " + Math.max(n, 0) + " bytes at offset " + at + ", expected " + want);
                        return false;
                    }
                    buffer.limit(want);
                    crc.reset();
                    crc.update(buffer);
                    long value = crc.getValue();
                    if (!d.baseline().compareAndSet(chunk, -1, value) && d.baseline().get(chunk) != value) {
                        error(d.label() + ": the " + want + " bytes at offset " + at + " differ from their first read");
                        return false;
                    }
                }
            }
            return true;
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
