package dev.dcd.tests.support;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A FIFO a dcd process opens at one of its {@code DCD_TEST_GATE} points (catalog's {@code TestGate}): the process
 * opens it for reading and blocks there until the test opens it for writing and closes it again. So the test's open
 * returning says the process has reached the point, and closing lets it go on. Made with {@code mkfifo}; whatever
 * happens, the clean-up lets a process still held go on, or, if the process died first, is the reader the test's
 * own open waits for, so no thread of the test stays blocked.
 */
public final class GateFifo {
    private final Path fifo;
    private final Duration deadline;
    private final Cleanups cleanups;
    private volatile CompletableFuture<OutputStream> writer;

    /**
     * Makes the FIFO at {@code fifo}; {@code deadline} bounds every wait; the release is registered with
     * {@code cleanups} once the test waits at the gate (after the clean-ups of the process it holds, so it runs first).
     */
    public GateFifo(Path fifo, Duration deadline, Cleanups cleanups) throws IOException, InterruptedException {
        this.fifo = fifo;
        this.deadline = deadline;
        this.cleanups = cleanups;
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
        String out = new String(mkfifo.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (mkfifo.waitFor() != 0) {
            throw new IOException("mkfifo " + fifo + " failed: " + out.strip());
        }
    }

    public Path path() {
        return fifo;
    }

    /** The {@code DCD_TEST_GATE} value that holds a process at {@code point} on this FIFO. */
    public String at(String point) {
        return point + "=" + fifo;
    }

    /**
     * Returns once {@code process} waits at the gate. If it ends instead, fails with "ended without stopping at the
     * gate" and what {@code ended} says of it (its exit and output).
     */
    public void awaitReached(Process process, Callable<String> ended) throws Exception {
        writer = CompletableFuture.supplyAsync(() -> {
            try {
                return Files.newOutputStream(fifo);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        cleanups.add(this::releaseQuietly);
        Object first = CompletableFuture.anyOf(writer, process.onExit()).get(deadline.toSeconds(), TimeUnit.SECONDS);
        if (first instanceof Process) {
            releaseQuietly();
            throw new AssertionError("the process ended without stopping at the gate: " + ended.call());
        }
    }

    /** Lets the process held at the gate go on. */
    public void release() throws Exception {
        writer.get(deadline.toSeconds(), TimeUnit.SECONDS).close();
    }

    private void releaseQuietly() {
        CompletableFuture<OutputStream> w = writer;
        try {
            if (w == null) {
                return;
            }
            if (!w.isDone()) {
                // Our open for writing still waits for a reader (the process died first): be that reader.
                FileChannel.open(fifo, StandardOpenOption.READ).close();
            }
            if (!w.isCompletedExceptionally()) {
                w.get(deadline.toSeconds(), TimeUnit.SECONDS).close();
            }
        } catch (Exception ignored) {
            // clean-up only
        }
    }
}
