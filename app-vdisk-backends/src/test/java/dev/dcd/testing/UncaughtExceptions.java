package dev.dcd.testing;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Fails a test when anything escapes a background thread during it: an assertion in a fake that runs on a
 * prefetch or fetch thread would otherwise be printed by the default handler and lost, and the test would
 * pass. Register with {@code @RegisterExtension final UncaughtExceptions uncaught = new UncaughtExceptions();}.
 * Tests in one JVM run one at a time (surefire's default), so the JVM-wide handler belongs to this test.
 */
public final class UncaughtExceptions implements BeforeEachCallback, AfterEachCallback {
    private final List<Throwable> escaped = new CopyOnWriteArrayList<>();
    private Thread.UncaughtExceptionHandler previous;

    @Override
    public void beforeEach(ExtensionContext context) {
        escaped.clear();
        previous = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> escaped.add(
                new AssertionError("thrown on thread " + thread.getName() + ": " + e, e)));
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Thread.setDefaultUncaughtExceptionHandler(previous);
        check();
    }

    /** Throws the first escaped throwable now (for a test that wants to fail before its end). */
    public void check() {
        if (!escaped.isEmpty()) {
            AssertionError first = new AssertionError(escaped.size() + " throwable(s) escaped a background thread",
                    escaped.get(0));
            escaped.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
    }

    /** Records a throwable caught on a background thread by code that does not let it escape. */
    public void record(Throwable e) {
        escaped.add(e);
    }
}
