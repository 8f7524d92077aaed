package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When a supervised mount starts the next server, and when it gives up; on an injected clock. */
class RestartPolicyTest {
    private final AtomicLong now = new AtomicLong();

    private RestartPolicy policy(int maxCrashes) {
        return RestartPolicy.builder().maxCrashes(maxCrashes).window(Duration.ofSeconds(60))
                .initialBackoff(Duration.ofMillis(100)).maxBackoff(Duration.ofSeconds(1)).nanoClock(now::get).build();
    }

    @Test
    void theFirstCrashRestartsAtOnceThenTheBackoffDoublesUpToItsCeiling() {
        RestartPolicy p = policy(10);
        assertEquals(Duration.ZERO, p.onCrash().delay());
        assertEquals(Duration.ofMillis(100), p.onCrash().delay());
        assertEquals(Duration.ofMillis(200), p.onCrash().delay());
        assertEquals(Duration.ofMillis(400), p.onCrash().delay());
        assertEquals(Duration.ofMillis(800), p.onCrash().delay());
        assertEquals(Duration.ofSeconds(1), p.onCrash().delay());
        assertEquals(Duration.ofSeconds(1), p.onCrash().delay());
    }

    @Test
    void oneCrashMoreThanAllowedWithinTheWindowGivesUp() {
        RestartPolicy p = policy(3);
        assertFalse(p.onCrash().giveUp());
        assertFalse(p.onCrash().giveUp());
        assertFalse(p.onCrash().giveUp());
        RestartPolicy.Decision d = p.onCrash();
        assertTrue(d.giveUp());
        assertEquals(4, d.crashesInWindow());
    }

    @Test
    void crashesOlderThanTheWindowNoLongerCount() {
        RestartPolicy p = policy(3);
        p.onCrash();
        p.onCrash();
        p.onCrash();
        now.addAndGet(Duration.ofSeconds(61).toNanos());
        RestartPolicy.Decision d = p.onCrash();
        assertFalse(d.giveUp());
        assertEquals(1, d.crashesInWindow());
        assertEquals(Duration.ZERO, d.delay(), "a crash after a quiet window restarts at once again");
    }
}
