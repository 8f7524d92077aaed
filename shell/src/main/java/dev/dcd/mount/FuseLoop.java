package dev.dcd.mount;

import dev.dcd.concurrent.Uninterruptibly;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.struct.FuseOperations;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * libfuse2's request loop, run on threads the JVM owns.
 *
 * <p>jnr-fuse mounts with {@code fuse_main_real}, whose multithreaded loop serves requests on native threads
 * libfuse creates. jffi attaches such a thread to the JVM and detaches it again around each of its first 1000
 * callbacks (100-300 us a request on a fresh mount), which is why local-only mounts used to run libfuse's
 * single-threaded loop and lose the overlap of the kernel's async readahead. Here the same steps as
 * {@code fuse_main_real} run through libfuse's own exported API - {@code fuse_setup}, then per thread
 * {@code fuse_session_receive_buf}/{@code fuse_session_process_buf} (what libfuse 2.9's {@code fuse_session_loop}
 * and its mt workers do), then {@code fuse_teardown} - but the loop threads are Java threads, so every
 * callback finds its thread already attached. The callbacks are jnr-fuse's, built for {@link DcdFuse}.
 *
 * <p>The loop ends when the kernel ends the connection (the file system is unmounted: every blocked
 * receive returns 0 with ENODEV), which is how {@code fusermount -u}, {@code dcd umount} and the shutdown
 * hook's lazy unmount stop it.
 */
final class FuseLoop {
    /** {@code struct fuse_buf} on LP64: size_t size; enum flags (+4 pad); void *mem; int fd (+4 pad); off_t pos. */
    private static final int FUSE_BUF_BYTES = 40;
    private static final int FUSE_BUF_SIZE = 0;
    private static final int FUSE_BUF_FLAGS = 8;
    private static final int FUSE_BUF_MEM = 16;
    private static final int FUSE_BUF_FD = 24;
    private static final int FUSE_BUF_POS = 32;
    private static final int POINTER_BYTES = 8;

    /** The part of libfuse 2.9's API that jnr-fuse does not bind (all exported by libfuse.so.2). */
    public interface LibFuseLoop {
        Pointer fuse_setup(int argc, String[] argv, FuseOperations op, @size_t long opSize,
                           Pointer mountpointOut, Pointer multithreadedOut, Pointer userData);

        void fuse_teardown(Pointer fuse, Pointer mountpoint);

        Pointer fuse_get_session(Pointer fuse);

        Pointer fuse_session_next_chan(Pointer session, Pointer previous);

        @size_t long fuse_chan_bufsize(Pointer channel);

        int fuse_session_receive_buf(Pointer session, Pointer buf, Pointer channelInOut);

        void fuse_session_process_buf(Pointer session, Pointer buf, Pointer channel);

        void fuse_session_exit(Pointer session);
    }

    private static final class Holder {
        static final LibFuseLoop LIB = LibraryLoader.create(LibFuseLoop.class).failImmediately().load("fuse");
    }

    private FuseLoop() {
    }

    /**
     * Mounts {@code fs} with the libfuse2 command line {@code argv} (program name, -f, mountpoint, options; never
     * -s, the concurrency is {@code threads}), serves on the calling thread plus {@code threads - 1} more until
     * the file system is unmounted, then tears the mount down.
     */
    static void serve(DcdFuse fs, Path mountpoint, List<String> argv, int threads, String threadName, PrintStream log) {
        LibFuseLoop lib = Holder.LIB;
        Runtime runtime = Runtime.getRuntime(lib);
        Pointer mountpointOut = Memory.allocateDirect(runtime, POINTER_BYTES, true);
        Pointer multithreadedOut = Memory.allocateDirect(runtime, Integer.BYTES, true);
        fs.markMounted(mountpoint);
        Thread hook = new Thread(fs::umount, threadName + "-unmount");
        java.lang.Runtime.getRuntime().addShutdownHook(hook);
        try {
            // With -f libfuse does not fork; inside a JVM it installs no signal handlers either (it only replaces
            // SIG_DFL, and the JVM already handles SIGINT/SIGTERM/SIGHUP), so the JVM's hooks stay in charge.
            Pointer fuse = lib.fuse_setup(argv.size(), argv.toArray(String[]::new), fs.operations(),
                    Struct.size(fs.operations()), mountpointOut, multithreadedOut, null);
            if (fuse == null) {
                throw new IllegalStateException("libfuse could not mount " + mountpoint
                        + " (its reason is on stderr just before this)");
            }
            try {
                Pointer session = lib.fuse_get_session(fuse);
                Pointer channel = lib.fuse_session_next_chan(session, null);
                long bufferSize = lib.fuse_chan_bufsize(channel);
                runWorkers(lib, runtime, fs, session, channel, bufferSize, threads, threadName, log);
            } finally {
                // Unmounts if the kernel still has the mount (a failed loop), then calls destroy and frees libfuse's state.
                lib.fuse_teardown(fuse, mountpointOut.getPointer(0));
            }
        } finally {
            fs.markUnmounted();
            try {
                java.lang.Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running or about to; it does nothing once markUnmounted has been called.
            }
        }
    }

    private static void runWorkers(LibFuseLoop lib, Runtime runtime, DcdFuse fs, Pointer session, Pointer channel,
                                   long bufferSize, int threads, String threadName, PrintStream log) {
        AtomicInteger failed = new AtomicInteger();
        Runnable worker = () -> {
            int res = receiveAndProcess(lib, runtime, session, channel, bufferSize);
            if (res < 0 && failed.getAndIncrement() == 0) {
                // What libfuse's own loops do on a receive error: end the session. The other workers are
                // blocked in read(2) on /dev/fuse, which only the end of the connection wakes: unmount lazily.
                log.println("dcd-fuse: reading /dev/fuse failed (errno " + -res + "); unmounting");
                lib.fuse_session_exit(session);
                fs.umount();
            }
        };
        List<Thread> others = new ArrayList<>();
        for (int i = 1; i < threads; i++) {
            Thread t = new Thread(worker, threadName + "-" + i);
            t.setDaemon(true);
            t.start();
            others.add(t);
        }
        worker.run();
        // No timeout: libfuse's state must outlive every request still being answered.
        others.forEach(Uninterruptibly::join);
    }

    /**
     * One worker: what libfuse 2.9's loops do per request, with a buffer of its own. Returns 0 when the
     * session has ended (unmounted), or a negative errno when receiving failed.
     */
    private static int receiveAndProcess(LibFuseLoop lib, Runtime runtime, Pointer session, Pointer channel,
                                         long bufferSize) {
        Pointer data = Memory.allocateDirect(runtime, Math.toIntExact(bufferSize));
        Pointer buf = Memory.allocateDirect(runtime, FUSE_BUF_BYTES, true);
        Pointer channelInOut = Memory.allocateDirect(runtime, POINTER_BYTES, true);
        int eintr = -ErrorCodes.EINTR();
        while (true) {
            // receive_buf shrinks size to what it read (and could set flags for splice), so reset every field.
            buf.putLong(FUSE_BUF_SIZE, bufferSize);
            buf.putInt(FUSE_BUF_FLAGS, 0);
            buf.putPointer(FUSE_BUF_MEM, data);
            buf.putInt(FUSE_BUF_FD, 0);
            buf.putLong(FUSE_BUF_POS, 0);
            channelInOut.putPointer(0, channel);
            int res = lib.fuse_session_receive_buf(session, buf, channelInOut);
            if (res == eintr) {
                continue;
            }
            if (res <= 0) {
                return res;
            }
            lib.fuse_session_process_buf(session, buf, channelInOut.getPointer(0));
        }
    }
}
