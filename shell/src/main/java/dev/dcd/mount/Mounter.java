package dev.dcd.mount;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Mounts a {@link MountSource} with libfuse2 (jnr-fuse's callbacks, our {@link FuseLoop}), with the options of
 * {@link MountOptions}.
 */
public final class Mounter {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration UNMOUNT_TIMEOUT = Duration.ofSeconds(10);
    /** argv[0] for libfuse: the name in its own messages. */
    private static final String PROGRAM_NAME = "dcd";

    private Mounter() {
    }

    /**
     * Serves on the calling thread (and the loop's other threads) until the mount ends: an external
     * {@code fusermount -u}, or SIGINT/SIGTERM (the shutdown hook unmounts lazily).
     */
    public static void serve(MountSource source, Path mountpoint, MountOptions options, PrintStream log) {
        if (!java.nio.charset.Charset.defaultCharset().equals(java.nio.charset.StandardCharsets.UTF_8)) {
            log.println("dcd-fuse: warning: default charset is " + java.nio.charset.Charset.defaultCharset()
                    + "; names that are not ASCII need -Dfile.encoding=UTF-8");
        }
        DcdFuse fuse = new DcdFuse(source, options.keepCacheForFiles(), Ids.uid(), Ids.gid(), log);
        List<String> args = options.fuseArgs(Ids.uid(), Ids.userAllowOther());
        log.println("dcd-fuse: mounting " + source.describe() + " at " + mountpoint + " with " + String.join(" ", args)
                + " on " + options.threads() + " loop thread" + (options.threads() == 1 ? "" : "s"));
        List<String> argv = new ArrayList<>();
        argv.add(PROGRAM_NAME);
        // Foreground always: libfuse must never fork a JVM. The serving process is detached by MountService.
        argv.add("-f");
        if (options.debug()) {
            argv.add("-d");
        }
        argv.add(mountpoint.toString());
        argv.addAll(args);
        FuseLoop.serve(fuse, mountpoint, argv, options.threads(), "dcd-fuse-" + options.vm(), log);
    }

    /** A mount served by a thread of this JVM; for tests, benchmarks and {@code --foreground}. */
    public static final class Mount implements AutoCloseable {
        private final Path mountpoint;
        private final Thread thread;
        private final AtomicReference<Throwable> failure;

        private Mount(Path mountpoint, Thread thread, AtomicReference<Throwable> failure) {
            this.mountpoint = mountpoint;
            this.thread = thread;
            this.failure = failure;
        }

        public Path mountpoint() {
            return mountpoint;
        }

        /** Unmounts (not lazily: a busy mount is reported) and waits for the serving thread. */
        @Override
        public void close() throws IOException {
            unmount(mountpoint, thread, "fusermount", "-u");
        }
    }

    /**
     * Ends a mount served by {@code thread} of this JVM: runs {@code unmount MOUNTPOINT} (not lazily: a busy mount
     * is reported and stays), then gives the thread {@link #UNMOUNT_TIMEOUT} to see the end and return. Nothing to
     * do when the thread has ended already.
     */
    static void unmount(Path mountpoint, Thread thread, String... unmount) throws IOException {
        if (!thread.isAlive()) {
            return;
        }
        List<String> command = new ArrayList<>(List.of(unmount));
        command.add(mountpoint.toString());
        Exec.Result r = Exec.run(UNMOUNT_TIMEOUT, command);
        if (!r.ok()) {
            throw new IOException("cannot unmount " + mountpoint + ": " + r.message());
        }
        try {
            thread.join(UNMOUNT_TIMEOUT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Mounts on a background thread and returns once the mountpoint answers. */
    public static Mount start(MountSource source, Path mountpoint, MountOptions options, PrintStream log)
            throws IOException {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = new Thread(() -> {
            try {
                serve(source, mountpoint, options, log);
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "dcd-fuse-" + options.vm());
        thread.setDaemon(true);
        thread.start();
        awaitReady(mountpoint, () -> {
            if (!thread.isAlive()) {
                Throwable t = failure.get();
                return "the FUSE loop ended" + (t == null ? "" : ": " + t);
            }
            return null;
        });
        return new Mount(mountpoint, thread, failure);
    }

    /** Why the server can no longer come up, or null while it still may. */
    interface Liveness {
        String deadReason() throws IOException;
    }

    /** Waits until the kernel lists a dcd mount at the path and disk.img inside it answers stat. */
    static void awaitReady(Path mountpoint, Liveness liveness) throws IOException {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            if (isReady(mountpoint)) {
                return;
            }
            String dead = liveness.deadReason();
            if (dead != null) {
                throw new IOException("mount at " + mountpoint + " failed: " + dead);
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("mount at " + mountpoint + " did not answer within "
                        + READY_TIMEOUT.toSeconds() + " s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + mountpoint);
            }
        }
    }

    static boolean isReady(Path mountpoint) throws IOException {
        var entry = MountTable.at(mountpoint);
        return entry.isPresent() && entry.get().fsType().equals("fuse.dcd")
                && Files.isRegularFile(mountpoint.resolve("disk.img"));
    }
}
