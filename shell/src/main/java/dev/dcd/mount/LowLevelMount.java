package dev.dcd.mount;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * The low-level server ({@link LowLevelFs} on {@link LowLevelServer}) mounted and served by threads of this JVM,
 * without a supervisor: the counterpart of {@link Mounter#start} for benchmarks and tests that compare both
 * FUSE paths on an equal footing (same process, same source). Needs root ({@code mount(2)}).
 */
public final class LowLevelMount implements AutoCloseable {
    private final Path mountpoint;
    private final Thread thread;
    private final RequestCounters counters;

    private LowLevelMount(Path mountpoint, Thread thread, RequestCounters counters) {
        this.mountpoint = mountpoint;
        this.thread = thread;
        this.counters = counters;
    }

    /**
     * Mounts {@code source} at {@code mountpoint} (shown as {@code dcd:NAME}), serves it on {@code threads} threads
     * and returns once it answers.
     */
    public static LowLevelMount start(String name, MountSource source, Path mountpoint, int threads, PrintStream log)
            throws IOException {
        FuseDevice device = FuseDevice.mount(mountpoint, name, Ids.uid(), Ids.gid(), false);
        LowLevelFs fs = new LowLevelFs(source, true, Ids.uid(), Ids.gid(), log);
        Thread thread = new Thread(() -> {
            LowLevelServer.serve(device, fs, threads, "dcd-fuse-" + name, log);
            device.close();
        }, "dcd-fuse-" + name);
        thread.setDaemon(true);
        thread.start();
        try {
            Mounter.awaitReady(mountpoint, () -> thread.isAlive() ? null : "the low-level server ended");
        } catch (IOException e) {
            FuseDevice.detach(mountpoint);
            throw e;
        }
        return new LowLevelMount(mountpoint, thread, fs.counters());
    }

    public Path mountpoint() {
        return mountpoint;
    }

    /** The requests this mount's server has answered so far, by opcode, with the time they took. */
    public RequestCounters.Snapshot requests() {
        return counters.snapshot();
    }

    /** Unmounts (not lazily: a busy mount is reported) and waits for the serving threads. */
    @Override
    public void close() throws IOException {
        Mounter.unmount(mountpoint, thread, "umount");
    }
}
