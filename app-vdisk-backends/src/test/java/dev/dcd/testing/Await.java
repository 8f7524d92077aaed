package dev.dcd.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * Waits for a condition that another thread makes true, with a deadline: the replacement for a sleep that
 * hopes the other thread got there. Fails naming what it waited for when the deadline passes.
 */
public final class Await {
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(30);

    private Await() {
    }

    public static void until(BooleanSupplier condition, String what) {
        until(condition, DEFAULT_DEADLINE, what);
    }

    public static void until(BooleanSupplier condition, Duration deadline, String what) {
        long end = System.nanoTime() + deadline.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                throw new AssertionError("waited " + deadline.toSeconds() + " s for " + what);
            }
            // Give the other thread the core: on two shared cores a busy spin would slow what it waits for.
            Thread.yield();
        }
    }

    /** Until {@code thread} is blocked (waiting, parked or on a monitor) in a method of {@code className}. */
    public static void blockedIn(Thread thread, String className, String method) {
        until(() -> {
            Thread.State state = thread.getState();
            if (state != Thread.State.WAITING && state != Thread.State.TIMED_WAITING && state != Thread.State.BLOCKED) {
                return false;
            }
            for (StackTraceElement frame : thread.getStackTrace()) {
                if (frame.getClassName().equals(className) && frame.getMethodName().equals(method)) {
                    return true;
                }
            }
            return false;
        }, thread.getName() + " to block in " + className + "." + method);
    }
}
