package dev.dcd.catalog;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.FileLockInterruptionException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The catalog's write lock: one writer at a time across processes (an fcntl lock on {@value #FILE_NAME} in the
 * catalog directory) and across threads of one process (a semaphore per file; the JVM refuses a second
 * {@link FileChannel#lock} on one file). It is held only while a write commits, so waiting for it is short;
 * the wait is still bounded and says once, on the notice channel, who is writing.
 *
 * <p>The holder writes {@code "pid N (command)"} into the first {@value #RECORD} bytes of the lock file, in
 * place: overwriting blocks the file already has needs no free space, so this works on a full disk too. The
 * record is informative only; the fcntl lock is the truth (the kernel drops it when its process dies).
 */
public final class CatalogLock {
    public static final String FILE_NAME = "dcd-writer.lock";
    /** Fixed size of the holder record, so rewriting it never grows the file. */
    static final int RECORD = 256;

    private static final Map<Path, Semaphore> IN_PROCESS = new ConcurrentHashMap<>();

    private CatalogLock() {
    }

    /** A held lock; closing it lets the next writer in. */
    public static final class Held implements Closeable {
        private final FileChannel channel;
        private final FileLock lock;
        private final Semaphore local;
        private boolean closed;

        private Held(FileChannel channel, FileLock lock, Semaphore local) {
            this.channel = channel;
            this.lock = lock;
            this.local = local;
        }

        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            try {
                lock.release();
                channel.close();
            } finally {
                local.release();
            }
        }
    }

    /**
     * Takes the lock, waiting at most {@code timeout}.
     *
     * @param holder what this process is, written for waiters to read (e.g. {@code dcd catalog import x.tar})
     * @param notice told once, before waiting, who holds the lock
     * @throws CatalogException when the wait times out (naming the holder)
     * @throws InterruptedIOException when the waiting thread is interrupted (Ctrl-C in the shell)
     */
    public static Held acquire(Path catalogDir, Duration timeout, String holder, Consumer<String> notice) throws IOException {
        Path file = catalogDir.resolve(FILE_NAME).toAbsolutePath().normalize();
        long deadline = System.nanoTime() + timeout.toNanos();
        Semaphore local = IN_PROCESS.computeIfAbsent(file, f -> new Semaphore(1, true));
        boolean noticed = false;
        try {
            if (!local.tryAcquire()) {
                notice.accept(waitingLine(timeout, "another command of this process (pid " + ProcessHandle.current().pid()
                        + ") is writing to it"));
                noticed = true;
                if (!local.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    throw timedOut(catalogDir, timeout, "another command of this process");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("cancelled while waiting for the catalog lock");
        }
        try {
            FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            try {
                FileLock lock = channel.tryLock();
                if (lock == null) {
                    String other = readHolder(channel);
                    if (!noticed) {
                        notice.accept(waitingLine(timeout, other + " is writing to it"));
                    }
                    lock = waitFor(channel, deadline);
                    if (lock == null) {
                        throw timedOut(catalogDir, timeout, other);
                    }
                }
                writeHolder(channel, holder);
                return new Held(channel, lock, local);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            local.release();
            throw e;
        }
    }

    /**
     * Blocks in {@link FileChannel#lock()} (a real wait in the kernel, no polling) until the lock is free or the
     * deadline passes; a timer interrupts the wait at the deadline, which closes the channel.
     *
     * @return the lock, or null at the deadline
     */
    private static FileLock waitFor(FileChannel channel, long deadline) throws IOException {
        Thread waiter = Thread.currentThread();
        Object state = new Object();
        boolean[] doneAndTimedOut = new boolean[2];
        long remaining = Math.max(0, deadline - System.nanoTime());
        CompletableFuture.runAsync(() -> {
            synchronized (state) {
                if (!doneAndTimedOut[0]) {
                    doneAndTimedOut[1] = true;
                    waiter.interrupt();
                }
            }
        }, CompletableFuture.delayedExecutor(remaining, TimeUnit.NANOSECONDS));
        try {
            FileLock lock = channel.lock();
            synchronized (state) {
                doneAndTimedOut[0] = true;
                if (doneAndTimedOut[1]) {
                    // The timer fired just after the kernel granted the lock: keep the lock, drop the interrupt.
                    Thread.interrupted();
                }
            }
            return lock;
        } catch (ClosedByInterruptException | FileLockInterruptionException e) {
            synchronized (state) {
                doneAndTimedOut[0] = true;
                if (doneAndTimedOut[1]) {
                    Thread.interrupted();
                    return null;
                }
            }
            throw new InterruptedIOException("cancelled while waiting for the catalog lock");
        }
    }

    private static String waitingLine(Duration timeout, String who) {
        return "waiting up to " + seconds(timeout) + " for the catalog: " + who;
    }

    private static CatalogException timedOut(Path catalogDir, Duration timeout, String who) {
        return new CatalogException("the catalog " + catalogDir + " is still being written by " + who + " after "
                + seconds(timeout) + "; try again later, or wait longer with DCD_LOCK_TIMEOUT=SECONDS");
    }

    static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : String.format("%.1f s", ms / 1000.0);
    }

    private static String readHolder(FileChannel channel) {
        try {
            ByteBuffer buffer = ByteBuffer.allocate(RECORD);
            while (buffer.hasRemaining() && channel.read(buffer, buffer.position()) > 0) {
                // read until the record is complete or the file ends
            }
            String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).trim();
            int nul = text.indexOf('\0');
            text = nul < 0 ? text : text.substring(0, nul).trim();
            return text.isEmpty() ? "another dcd process" : "dcd " + text;
        } catch (IOException e) {
            return "another dcd process";
        }
    }

    private static void writeHolder(FileChannel channel, String holder) {
        byte[] text = ("pid " + ProcessHandle.current().pid() + (holder.isBlank() ? "" : " (" + holder + ")")).getBytes(StandardCharsets.UTF_8);
        byte[] record = new byte[RECORD];
        Arrays.fill(record, (byte) ' ');
        System.arraycopy(text, 0, record, 0, Math.min(text.length, RECORD - 1));
        record[RECORD - 1] = '\n';
        try {
            ByteBuffer buffer = ByteBuffer.wrap(record);
            while (buffer.hasRemaining()) {
                channel.write(buffer, buffer.position());
            }
        } catch (IOException e) {
            // Informative only: on a full disk the first record may not fit; the lock itself holds regardless.
        }
    }

    /** What this process is, for the holder record: the arguments after the jar or main class. */
    static String describeThisProcess() {
        String[] args = ProcessHandle.current().info().arguments().orElse(new String[0]);
        int start = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].endsWith(".jar") || args[i].equals("dev.dcd.shell.Main")) {
                start = i + 1;
            }
        }
        StringBuilder text = new StringBuilder();
        for (int i = start; i < args.length; i++) {
            text.append(i > start ? " " : "").append(args[i]);
        }
        String joined = text.toString();
        return joined.length() > 120 ? joined.substring(0, 117) + "..." : joined;
    }
}
