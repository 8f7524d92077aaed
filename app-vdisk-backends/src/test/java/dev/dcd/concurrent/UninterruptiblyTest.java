package dev.dcd.concurrent;

import dev.dcd.testing.Await;
import org.junit.jupiter.api.Test;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each wait is entered by a thread that is interrupted already, so a wait that gave up on an interrupt would return
 * at once; instead it must block until its condition holds, and hand the interrupt back.
 */
class UninterruptiblyTest {

    @Test
    void joinOutlastsAnInterruptUntilTheThreadEndsAndKeepsTheInterrupt() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Thread worker = new Thread(() -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "worker");
        worker.start();
        AtomicBoolean workerEnded = new AtomicBoolean();
        AtomicBoolean interruptKept = new AtomicBoolean();
        Thread joiner = new Thread(() -> {
            Thread.currentThread().interrupt();
            Uninterruptibly.join(worker);
            workerEnded.set(!worker.isAlive());
            interruptKept.set(Thread.currentThread().isInterrupted());
        }, "joiner");
        joiner.start();

        Await.blockedIn(joiner, "java.lang.Thread", "join");
        release.countDown();
        joiner.join(30_000);
        assertFalse(joiner.isAlive(), "the join returned once the worker ended");
        assertTrue(workerEnded.get(), "the worker had ended when the join returned");
        assertTrue(interruptKept.get(), "the interrupt is handed back");
    }

    @Test
    void putOutlastsAnInterruptUntilThereIsRoomAndKeepsTheInterrupt() throws Exception {
        ArrayBlockingQueue<String> queue = new ArrayBlockingQueue<>(1);
        queue.add("first");
        AtomicBoolean interruptKept = new AtomicBoolean();
        Thread putter = new Thread(() -> {
            Thread.currentThread().interrupt();
            Uninterruptibly.put(queue, "second");
            interruptKept.set(Thread.currentThread().isInterrupted());
        }, "putter");
        putter.start();

        Await.blockedIn(putter, "java.util.concurrent.ArrayBlockingQueue", "put");
        assertEquals("first", queue.take());
        assertEquals("second", queue.poll(30, TimeUnit.SECONDS), "the item went in once there was room");
        putter.join(30_000);
        assertFalse(putter.isAlive());
        assertTrue(interruptKept.get(), "the interrupt is handed back");
    }

    @Test
    void awaitOutlastsAnInterruptUntilTheConditionHoldsAndKeepsTheInterrupt() throws Exception {
        Object monitor = new Object();
        boolean[] done = new boolean[1];
        AtomicBoolean sawDone = new AtomicBoolean();
        AtomicBoolean interruptKept = new AtomicBoolean();
        Thread waiter = new Thread(() -> {
            Thread.currentThread().interrupt();
            synchronized (monitor) {
                Uninterruptibly.await(monitor, () -> done[0]);
                sawDone.set(done[0]);
            }
            interruptKept.set(Thread.currentThread().isInterrupted());
        }, "waiter");
        waiter.start();

        Await.blockedIn(waiter, "java.lang.Object", "wait");
        synchronized (monitor) {
            monitor.notifyAll(); // a wake-up without the condition: it must wait on
        }
        Await.blockedIn(waiter, "java.lang.Object", "wait");
        synchronized (monitor) {
            done[0] = true;
            monitor.notifyAll();
        }
        waiter.join(30_000);
        assertFalse(waiter.isAlive(), "the wait returned once the condition held");
        assertTrue(sawDone.get());
        assertTrue(interruptKept.get(), "the interrupt is handed back");
    }
}
