package dev.dcd.vdisk;

import dev.dcd.concurrent.Uninterruptibly;

import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * Puts the bytes a writer appends on their way to the disk while it keeps appending, so that the one
 * {@code fsync} that seals the file finds little left to write.
 *
 * <p>On a machine with gigabytes of memory the kernel starts writing back a file of a few hundred megabytes
 * only when asked (its background threshold is a tenth of the memory), so an import that forces its vdisk
 * once at the end would write all of it then, with the CPU idle. A thread of its own calls {@code fdatasync}
 * each time the writer is {@link #STEP} or more past what the last one covered; the writer never waits for
 * it. The thread starts only when a file grows past the first step, so small imports run as before.
 *
 * <p>A failed background {@code fdatasync} is kept and thrown by {@link #finish}: Linux reports a writeback
 * error once, so the final {@code fsync} could succeed after it and seal a file whose bytes never arrived.
 */
final class WriteBehind {
    /** How far the writer gets ahead of the last {@code fdatasync} before the next one starts. */
    static final long STEP = 8L << 20;

    private final FileChannel channel;
    private Thread thread;
    private long written;
    private long covered;
    private boolean stopped;
    private IOException failure;

    WriteBehind(FileChannel channel) {
        this.channel = channel;
    }

    /** The writer has appended up to file offset {@code end}. */
    synchronized void advanced(long end) {
        if (stopped || end - covered < STEP || end <= written) {
            written = Math.max(written, end);
            return;
        }
        written = end;
        if (thread == null) {
            thread = new Thread(this::run, "dcd-vdisk-writeback");
            thread.setDaemon(true);
            thread.start();
        } else {
            notifyAll();
        }
    }

    /** Stops the thread (after the {@code fdatasync} under way, if any) and throws what a background one failed with. */
    void finish() throws IOException {
        stop();
        synchronized (this) {
            if (failure != null) {
                throw new IOException("writing the vdisk back to disk failed: " + failure.getMessage(), failure);
            }
        }
    }

    /** Stops the thread, waiting for the {@code fdatasync} under way; keeps any failure for {@link #finish}. */
    void stop() {
        Thread running;
        synchronized (this) {
            stopped = true;
            notifyAll();
            running = thread;
        }
        if (running != null) {
            Uninterruptibly.join(running);
        }
    }

    private void run() {
        while (true) {
            long target;
            synchronized (this) {
                while (!stopped && written - covered < STEP) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return; // nobody else holds this thread; the final fsync still covers everything
                    }
                }
                if (stopped) {
                    return;
                }
                target = written;
            }
            try {
                channel.force(false);
            } catch (IOException e) {
                synchronized (this) {
                    // kept even when the writer is stopping: finish() joins this thread before it looks
                    failure = e;
                    stopped = true;
                }
                return;
            }
            synchronized (this) {
                covered = Math.max(covered, target);
            }
        }
    }
}
