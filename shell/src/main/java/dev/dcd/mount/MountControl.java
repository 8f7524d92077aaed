package dev.dcd.mount;

import dev.dcd.control.ControlServer;
import dev.dcd.vdisk.ContentId;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;

/** Opens the control channel of a serving process over its {@link MountSource} (docs/control-channel.md). */
public final class MountControl {
    private MountControl() {
    }

    /**
     * Registers this process as a reader of vdisks ({@code ControlSockets.registerReader}); call it before the
     * server opens its source, so that a {@code catalog move} or {@code catalog gc} that runs while the server is
     * still starting (no control socket yet) keeps every copy it may read. When the registration cannot be written,
     * says so on stderr and returns a handle that does nothing (the server still serves, as without a control
     * channel; its mount or serve record still counts).
     */
    public static Closeable registerReader(Path home, String kind, String vm) {
        try {
            return dev.dcd.control.ControlSockets.registerReader(home, kind, vm);
        } catch (IOException | RuntimeException e) {
            System.err.println("dcd: cannot register the " + kind + " of VM " + vm + " as a reader: " + e.getMessage());
            return () -> { };
        }
    }

    /** Closes a reader registration, ignoring a failure (the process is stopping; a dead pid's file counts for none). */
    public static void unregister(Closeable reader) {
        try {
            reader.close();
        } catch (IOException e) {
            // see above
        }
    }

    /**
     * Listens on the control socket of a {@code kind} server of {@code vm}; returns null, having said why on
     * stderr, when it cannot (the server still serves, but a {@code catalog move} of its apps will wait for it
     * in vain and fail, changing nothing).
     */
    public static Closeable start(Path home, String kind, String vm, MountSource source) {
        try {
            return ControlServer.start(home, kind, vm, new ControlServer.Handler() {
                @Override
                public String status() {
                    return "vm=" + vm + " " + source.controlStatus();
                }

                @Override
                public boolean resolve(ContentId id, String backend) throws IOException {
                    try {
                        return source.switchBackend(id, backend);
                    } catch (IOException | RuntimeException e) {
                        // The asker may have given up already; the log is where a refused switch stays visible.
                        System.err.println("dcd: not switching vdisk " + id.shortHex() + " of VM " + vm + " to "
                                + backend + ": " + e.getMessage());
                        System.err.flush();
                        throw e;
                    }
                }

                @Override
                public String readsFrom(ContentId id) throws IOException {
                    return source.backendOf(id);
                }

                @Override
                public int record(ContentId id, java.time.Duration window) throws IOException {
                    return source.recordPrefetch(id, window);
                }
            });
        } catch (IOException | RuntimeException e) {
            System.err.println("dcd: no control channel for VM " + vm + ": " + e.getMessage());
            return null;
        }
    }
}
