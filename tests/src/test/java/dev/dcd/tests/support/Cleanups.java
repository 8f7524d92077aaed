package dev.dcd.tests.support;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What a test set up outside the JVM (mounts, servers, processes) and must undo whatever happens: registered
 * as the test runs, undone in reverse order after it.
 *
 * <pre>
 * &#64;RegisterExtension
 * final Cleanups cleanups = new Cleanups();
 * ...
 * cleanups.add(() -&gt; quietly("umount", "-l", at.toString()));
 * </pre>
 *
 * <p>Every clean-up runs even when one before it fails. A test that failed keeps its own failure as the one
 * reported, with the clean-ups' failures attached as suppressed; a test that passed fails with the first
 * clean-up failure, the others suppressed under it.
 */
public final class Cleanups implements AfterEachCallback {
    private final Deque<AutoCloseable> pending = new ArrayDeque<>();

    /** Undoes {@code cleanup} after the test, before what was added earlier. */
    public synchronized void add(AutoCloseable cleanup) {
        pending.push(Objects.requireNonNull(cleanup, "cleanup"));
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        closeAll(context.getExecutionException());
    }

    /**
     * Closes everything added, last first, and forgets it. With {@code testFailure} present the failures are
     * suppressed under it and nothing is thrown; otherwise the first failure is thrown with the rest suppressed.
     */
    void closeAll(Optional<Throwable> testFailure) throws Exception {
        List<Throwable> failures = new ArrayList<>();
        for (AutoCloseable next = poll(); next != null; next = poll()) {
            try {
                next.close();
            } catch (Exception | AssertionError e) {
                failures.add(e);
            }
        }
        if (failures.isEmpty()) {
            return;
        }
        if (testFailure.isPresent()) {
            failures.forEach(testFailure.get()::addSuppressed);
            return;
        }
        Throwable first = failures.get(0);
        failures.subList(1, failures.size()).forEach(first::addSuppressed);
        if (first instanceof Exception e) {
            throw e;
        }
        throw (AssertionError) first;
    }

    private synchronized AutoCloseable poll() {
        return pending.poll();
    }
}
