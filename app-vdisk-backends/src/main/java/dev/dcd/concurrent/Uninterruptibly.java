package dev.dcd.concurrent;

import java.util.concurrent.BlockingQueue;
import java.util.function.BooleanSupplier;

/**
 * Waits that must not give up on an interrupt: a thread stopping a worker has to know the worker is gone (it may
 * still touch the state being torn down), so it waits to the end and then restores the interrupt for its caller.
 */
public final class Uninterruptibly {
    private Uninterruptibly() {
    }

    /** Joins {@code thread}, however often the caller is interrupted meanwhile; the interrupt is kept. */
    public static void join(Thread thread) {
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Puts {@code item} on {@code queue}, however often the caller is interrupted meanwhile; the interrupt is kept. */
    public static <E> void put(BlockingQueue<E> queue, E item) {
        boolean interrupted = false;
        while (true) {
            try {
                queue.put(item);
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Waits on {@code monitor}, which the caller holds, until {@code done} is true (checked under the monitor on
     * every wake-up), however often the caller is interrupted meanwhile; the interrupt is kept.
     */
    public static void await(Object monitor, BooleanSupplier done) {
        boolean interrupted = false;
        while (!done.getAsBoolean()) {
            try {
                monitor.wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
