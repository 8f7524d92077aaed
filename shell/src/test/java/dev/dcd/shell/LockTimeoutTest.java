package dev.dcd.shell;

import dev.dcd.catalog.Catalog;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code DCD_LOCK_TIMEOUT}: how long a write waits for another process's commit (docs/catalog.md). */
class LockTimeoutTest {
    private static Context with(Map<String, String> env) {
        return new Context(env, new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()), Clock.systemUTC(), false);
    }

    @Test
    void unsetMeansThirtySeconds() {
        assertEquals(Catalog.DEFAULT_LOCK_TIMEOUT, with(Map.of()).lockTimeout());
        assertEquals(Duration.ofSeconds(30), with(Map.of("DCD_LOCK_TIMEOUT", " ")).lockTimeout());
    }

    @Test
    void secondsMayHaveAFractionAndZeroMeansDoNotWait() {
        assertEquals(Duration.ofMillis(2500), with(Map.of("DCD_LOCK_TIMEOUT", "2.5")).lockTimeout());
        assertEquals(Duration.ZERO, with(Map.of("DCD_LOCK_TIMEOUT", "0")).lockTimeout());
        assertEquals(Duration.ofHours(24), with(Map.of("DCD_LOCK_TIMEOUT", "86400")).lockTimeout());
    }

    @Test
    void anythingElseIsOneClearLine() {
        for (String bad : new String[]{"soon", "-1", "86401", "NaN", "1e9"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> with(Map.of("DCD_LOCK_TIMEOUT", bad)).lockTimeout());
            assertEquals("DCD_LOCK_TIMEOUT must be a number of seconds from 0 to 86400, not '" + bad + "'", e.getMessage());
        }
    }
}
