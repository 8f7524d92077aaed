package dev.dcd.mount;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The request loop over a {@link FuseDevice}: N Java threads, each reading one request, answering it with
 * {@link LowLevelFs} and writing the reply, with buffers of its own (1 MiB requests: see
 * {@link FuseWire#MAX_PAGES_NEGOTIATED}). Nothing is shared between workers but the file system, whose read
 * path takes no lock, so the kernel's parallel requests (readahead, several readers) overlap.
 */
final class LowLevelServer {
    private LowLevelServer() {
    }

    /** How the loop ended. */
    enum End {
        /** The kernel ended the connection: the file system was unmounted. */
        UNMOUNTED,
        /** Reading or writing /dev/fuse failed otherwise. */
        FAILED
    }

    /** Serves on {@code threads} threads (the calling one among them) until the connection ends. */
    static End serve(FuseDevice device, LowLevelFs fs, int threads, String threadName, PrintStream log) {
        List<Thread> others = new ArrayList<>();
        End[] ends = new End[threads];
        for (int i = 1; i < threads; i++) {
            int slot = i;
            Thread t = new Thread(() -> ends[slot] = loop(device, fs, log), threadName + "-" + i);
            t.setDaemon(true);
            t.start();
            others.add(t);
        }
        ends[0] = loop(device, fs, log);
        Joins.joinAll(others);
        for (End e : ends) {
            if (e == End.FAILED) {
                return End.FAILED;
            }
        }
        return End.UNMOUNTED;
    }

    /** One worker. Ends when the kernel ends the connection (ENODEV), on every worker at once. */
    static End loop(FuseDevice device, LowLevelFs fs, PrintStream log) {
        FuseDevice.Buffer in = new FuseDevice.Buffer(FuseWire.REQUEST_BUFFER_BYTES);
        FuseDevice.Buffer out = new FuseDevice.Buffer(FuseWire.REPLY_BUFFER_BYTES);
        while (true) {
            int n = device.read(in);
            if (n == -FuseDevice.EINTR || n == -FuseDevice.EAGAIN || n == -FuseDevice.ENOENT) {
                continue; // interrupted, or the request was withdrawn while being read
            }
            if (n == -FuseDevice.ENODEV || n == 0) {
                return End.UNMOUNTED;
            }
            if (n < 0) {
                log.println("dcd-fuse: reading /dev/fuse failed: errno " + -n);
                return End.FAILED;
            }
            int length = fs.handle(in.bytes, out.bytes);
            if (length == 0) {
                continue;
            }
            int w = device.write(out, length);
            if (w == -FuseDevice.ENODEV) {
                return End.UNMOUNTED;
            }
            // ENOENT: the request was interrupted or aborted meanwhile; nobody waits for the reply any more.
            if (w < 0 && w != -FuseDevice.ENOENT) {
                log.println("dcd-fuse: writing a reply to /dev/fuse failed: errno " + -w);
            }
        }
    }
}
