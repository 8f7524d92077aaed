package dev.dcd.mount;

import dev.dcd.concurrent.Uninterruptibly;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The request loop over a {@link FuseDevice}: N Java threads, each reading one request, answering it with
 * {@link LowLevelFs} and writing the reply, with buffers of its own (1 MiB requests: see
 * {@link FuseWire#MAX_PAGES_NEGOTIATED}). Nothing is shared between workers but the file system, whose read
 * path takes no lock, so the kernel's parallel requests (readahead, several readers) overlap.
 *
 * <p>With a {@link Dispatcher} (sources with a remote backend), one loop thread is always kept free to read: once
 * all the others are busy with requests that reach the disk (READ, WRITE, FSYNC, FALLOCATE), further such requests
 * are answered on I/O threads and the loop thread goes straight back to reading. A backend that hangs until its
 * deadline therefore never stops the loop: names, attributes and other apps' reads keep being answered
 * (per-backend isolation), and while nothing hangs no request pays a hand-off. Replies may be written from any
 * thread; the kernel matches them by {@code unique}.
 */
final class LowLevelServer {
    /**
     * Disk requests answered at once on I/O threads; beyond this the loop threads wait for one to finish. Each
     * holds a reply buffer of 1 MiB + 4 KiB while it runs (allocated on first use, then reused).
     */
    static final int MAX_IN_FLIGHT = 64;
    /** Requests up to this size (everything but a WRITE's payload) are copied off the loop's buffer. */
    private static final int SMALL_REQUEST_BYTES = 4096;

    private LowLevelServer() {
    }

    /** How the loop ended. */
    enum End {
        /** The kernel ended the connection: the file system was unmounted. */
        UNMOUNTED,
        /** Reading or writing /dev/fuse failed otherwise. */
        FAILED
    }

    /**
     * Serves on {@code threads} threads (the calling one among them) until the connection ends; disk requests
     * go to I/O threads when {@code handOff}.
     */
    static End serve(FuseDevice device, LowLevelFs fs, int threads, boolean handOff, String threadName, PrintStream log) {
        Dispatcher dispatcher = handOff ? new Dispatcher(device, fs, threads, threadName + "-io", log) : null;
        // Remote sources keep every loop thread reading: the Dispatcher's isolation counts on a free one.
        ReadTurn turn = handOff || threads == 1 ? null : new ReadTurn();
        List<Thread> others = new ArrayList<>();
        End[] ends = new End[threads];
        for (int i = 1; i < threads; i++) {
            int slot = i;
            Thread t = new Thread(() -> ends[slot] = loop(device, fs, dispatcher, turn, log), threadName + "-" + i);
            t.setDaemon(true);
            t.start();
            others.add(t);
        }
        ends[0] = loop(device, fs, dispatcher, turn, log);
        // No timeout: the session's state must outlive every request still being answered.
        others.forEach(Uninterruptibly::join);
        if (dispatcher != null) {
            dispatcher.shutdown();
        }
        for (End e : ends) {
            if (e == End.FAILED) {
                return End.FAILED;
            }
        }
        return End.UNMOUNTED;
    }

    /** Serves on {@code threads} threads, answering every request on the thread that read it. */
    static End serve(FuseDevice device, LowLevelFs fs, int threads, String threadName, PrintStream log) {
        return serve(device, fs, threads, false, threadName, log);
    }

    /** One worker. Ends when the kernel ends the connection (ENODEV), on every worker at once. */
    static End loop(FuseDevice device, LowLevelFs fs, PrintStream log) {
        return loop(device, fs, null, null, log);
    }

    private static End loop(FuseDevice device, LowLevelFs fs, Dispatcher dispatcher, ReadTurn turn, PrintStream log) {
        try {
            return serveRequests(device, fs, dispatcher, turn, log);
        } finally {
            if (turn != null) {
                turn.end(); // the connection is over for every thread: none may stay parked
            }
        }
    }

    private static End serveRequests(FuseDevice device, LowLevelFs fs, Dispatcher dispatcher, ReadTurn turn,
                                     PrintStream log) {
        FuseDevice.Buffer in = new FuseDevice.Buffer(FuseWire.REQUEST_BUFFER_BYTES);
        FuseDevice.Buffer out = new FuseDevice.Buffer(FuseWire.REPLY_BUFFER_BYTES);
        while (true) {
            if (turn != null && !turn.take()) {
                return End.UNMOUNTED;
            }
            int n = device.read(in);
            int opcode = n > 0 ? in.bytes.getInt(FuseWire.IN_OPCODE) : 0;
            if (turn != null) {
                turn.release(n > 0 && mayTakeLong(opcode));
            }
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
            long t0 = System.nanoTime();
            boolean disk = dispatcher != null && reachesTheDisk(opcode);
            if (disk && !dispatcher.enterInline()) {
                in = dispatcher.submit(in, n);
                continue;
            }
            int length;
            try {
                length = fs.handle(in.bytes, out.bytes);
            } finally {
                if (disk) {
                    dispatcher.leaveInline();
                }
            }
            boolean ended = reply(device, out, length, log);
            fs.counters().answered(opcode, System.nanoTime() - t0);
            if (ended) {
                return End.UNMOUNTED;
            }
        }
    }

    /** The requests that may wait on a backend; every other one is answered from memory (index, attributes). */
    static boolean reachesTheDisk(int opcode) {
        return opcode == FuseWire.READ || opcode == FuseWire.WRITE || opcode == FuseWire.FSYNC
                || opcode == FuseWire.FALLOCATE;
    }

    /** Requests after which the next one should not wait: those of the disk, and listings (as long as a directory). */
    static boolean mayTakeLong(int opcode) {
        return reachesTheDisk(opcode) || opcode == FuseWire.READDIR || opcode == FuseWire.READDIRPLUS;
    }

    /** Writes a reply of {@code length} bytes (none if 0); true when the connection has ended. */
    private static boolean reply(FuseDevice device, FuseDevice.Buffer out, int length, PrintStream log) {
        if (length == 0) {
            return false;
        }
        int w = device.write(out, length);
        if (w == -FuseDevice.ENODEV) {
            return true;
        }
        // ENOENT: the request was interrupted or aborted meanwhile; nobody waits for the reply any more.
        if (w < 0 && w != -FuseDevice.ENOENT) {
            log.println("dcd-fuse: writing a reply to /dev/fuse failed: errno " + -w);
        }
        return false;
    }

    /**
     * Lets one loop thread at a time wait in read(2) on {@code /dev/fuse} (local sources). The kernel hands a new
     * request to the thread that has waited longest, so with every loop thread waiting there, the successive requests
     * of one reader (LOOKUP, OPEN, READ, RELEASE, the next LOOKUP) each land on another thread, woken cold. Here a
     * thread that answered a request from memory goes straight back to read(2), alone, and often finds the next
     * request already queued; a thread whose request may take long ({@link #mayTakeLong}: the disk, listings) first
     * hands the turn to a parked thread, so requests keep overlapping while one waits on I/O (the kernel's readahead,
     * several readers, a loop device). Measured in docs/benchmarks.md ("Where a cold files/ read spends its time").
     */
    static final class ReadTurn {
        private boolean taken;
        private boolean ended;

        /** Waits until no other thread is reading; false once the connection has ended. */
        synchronized boolean take() {
            while (taken && !ended) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            if (ended) {
                return false;
            }
            taken = true;
            return true;
        }

        /** After read(2) returned; {@code wakeAnother} when this thread is about to wait on the disk. */
        synchronized void release(boolean wakeAnother) {
            taken = false;
            if (wakeAnother) {
                notify();
            }
        }

        synchronized void end() {
            ended = true;
            notifyAll();
        }
    }

    /**
     * Keeps one loop thread free to read: a disk request is answered on the loop thread that read it (no hand-off,
     * the common case) while fewer than all but one loop threads are busy with the disk; otherwise it goes to one of
     * up to {@link #MAX_IN_FLIGHT} I/O threads (started on demand, ended after 30 s idle). A small request is
     * copied; a WRITE's buffer is handed over whole and the loop gets a spare one.
     */
    static final class Dispatcher {
        private final FuseDevice device;
        private final LowLevelFs fs;
        private final PrintStream log;
        /** Loop threads that may answer disk requests themselves at once: all but one. */
        private final int inlineLimit;
        private final AtomicInteger inline = new AtomicInteger();
        private final Semaphore slots = new Semaphore(MAX_IN_FLIGHT);
        private final ConcurrentLinkedQueue<FuseDevice.Buffer> spareRequests = new ConcurrentLinkedQueue<>();
        private final ConcurrentLinkedQueue<FuseDevice.Buffer> spareReplies = new ConcurrentLinkedQueue<>();
        private final ThreadPoolExecutor pool;

        Dispatcher(FuseDevice device, LowLevelFs fs, int loopThreads, String threadName, PrintStream log) {
            this.device = device;
            this.fs = fs;
            this.log = log;
            this.inlineLimit = loopThreads - 1;
            AtomicInteger n = new AtomicInteger();
            // As many threads as slots, so a request never waits in the queue behind a hung one.
            this.pool = new ThreadPoolExecutor(MAX_IN_FLIGHT, MAX_IN_FLIGHT, 30, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), r -> {
                        Thread t = new Thread(r, threadName + "-" + n.incrementAndGet());
                        t.setDaemon(true);
                        return t;
                    });
            pool.allowCoreThreadTimeOut(true);
        }

        /** True when the calling loop thread may answer a disk request itself; then {@link #leaveInline} after. */
        boolean enterInline() {
            if (inline.incrementAndGet() <= inlineLimit) {
                return true;
            }
            inline.decrementAndGet();
            return false;
        }

        void leaveInline() {
            inline.decrementAndGet();
        }

        /**
         * Queues the request read into {@code request} ({@code length} bytes) and returns the buffer the loop
         * reads the next request into. Waits while {@link #MAX_IN_FLIGHT} requests run.
         */
        FuseDevice.Buffer submit(FuseDevice.Buffer request, int length) {
            slots.acquireUninterruptibly();
            FuseDevice.Buffer next;
            ByteBuffer in;
            FuseDevice.Buffer handedOver;
            if (length <= SMALL_REQUEST_BYTES) {
                byte[] copy = new byte[length];
                request.bytes.get(0, copy);
                in = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
                handedOver = null;
                next = request;
            } else {
                in = request.bytes;
                handedOver = request;
                FuseDevice.Buffer spare = spareRequests.poll();
                next = spare != null ? spare : new FuseDevice.Buffer(FuseWire.REQUEST_BUFFER_BYTES);
            }
            try {
                pool.execute(() -> answer(in, handedOver));
            } catch (RuntimeException e) {
                slots.release(); // shut down: the connection has ended and nobody waits for the answer
            }
            return next;
        }

        private void answer(ByteBuffer in, FuseDevice.Buffer handedOver) {
            FuseDevice.Buffer out = spareReplies.poll();
            try {
                if (out == null) {
                    out = new FuseDevice.Buffer(FuseWire.REPLY_BUFFER_BYTES);
                }
                long t0 = System.nanoTime();
                reply(device, out, fs.handle(in, out.bytes), log);
                fs.counters().answered(in.getInt(FuseWire.IN_OPCODE), System.nanoTime() - t0);
            } finally {
                if (out != null) {
                    spareReplies.add(out);
                }
                if (handedOver != null) {
                    spareRequests.add(handedOver);
                }
                slots.release();
            }
        }

        /** After the connection ended: requests still running (a hung backend) finish or fail on their own. */
        void shutdown() {
            pool.shutdown();
            try {
                pool.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
