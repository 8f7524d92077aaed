package dev.dcd.testing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class UncaughtExceptionsTest {

    @Test
    void anAssertionFailingOnAPoolThreadFailsTheTest() throws Exception {
        UncaughtExceptions uncaught = new UncaughtExceptions();
        uncaught.beforeEach((ExtensionContext) null);
        Thread prefetch = new Thread(() -> fail("checked on the prefetch thread"), "prefetch");
        prefetch.start();
        prefetch.join(); // a thread reports what escaped it before it terminates
        AssertionError e = assertThrows(AssertionError.class, () -> uncaught.afterEach(null));
        assertTrue(String.valueOf(e.getCause()).contains("checked on the prefetch thread"), String.valueOf(e.getCause()));
    }

    @Test
    void aQuietBackgroundThreadPassesAndTheClockMovesOnlyWhenTold() {
        UncaughtExceptions uncaught = new UncaughtExceptions();
        uncaught.beforeEach(null);
        uncaught.afterEach(null);
        ManualClock clock = new ManualClock(java.time.Instant.EPOCH);
        clock.advance(java.time.Duration.ofMillis(999));
        assertTrue(clock.millis() == 999);
    }
}
