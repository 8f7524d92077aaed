package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When a supervised mount starts the next server, and when it gives up; on an injected clock. */
class RestartPolicyTest {
    private static final Duration NEVER_SERVED = Duration.ZERO;
    private static final Duration SERVED_LONG = Duration.ofMinutes(5);
    private final AtomicLong now = new AtomicLong();

    private RestartPolicy policy(int maxCrashes) {
        return RestartPolicy.builder().maxCrashes(maxCrashes).window(Duration.ofSeconds(60))
                .healthyAfter(Duration.ofSeconds(1)).initialBackoff(Duration.ofMillis(100))
                .maxBackoff(Duration.ofSeconds(1)).nanoClock(now::get).build();
    }

    @Test
    void serversThatDieQuicklyInARowBackOffDoublingUpToTheCeiling() {
        RestartPolicy p = policy(10);
        assertEquals(Duration.ofMillis(100), p.onCrash(NEVER_SERVED).delay());
        assertEquals(Duration.ofMillis(200), p.onCrash(Duration.ofMillis(300)).delay());
        assertEquals(Duration.ofMillis(400), p.onCrash(NEVER_SERVED).delay());
        assertEquals(Duration.ofMillis(800), p.onCrash(NEVER_SERVED).delay());
        assertEquals(Duration.ofSeconds(1), p.onCrash(NEVER_SERVED).delay());
        assertEquals(Duration.ofSeconds(1), p.onCrash(NEVER_SERVED).delay());
    }

    @Test
    void aServerThatHadServedAWhileIsReplacedAtOnceAndEndsTheBackoff() {
        RestartPolicy p = policy(10);
        p.onCrash(NEVER_SERVED);
        p.onCrash(NEVER_SERVED);
        assertEquals(Duration.ZERO, p.onCrash(SERVED_LONG).delay());
        assertEquals(Duration.ofMillis(100), p.onCrash(NEVER_SERVED).delay(), "the backoff starts over");
    }

    @Test
    void oneCrashMoreThanAllowedWithinTheWindowGivesUpWhateverEachServed() {
        RestartPolicy p = policy(3);
        assertFalse(p.onCrash(SERVED_LONG).giveUp());
        assertFalse(p.onCrash(NEVER_SERVED).giveUp());
        assertFalse(p.onCrash(SERVED_LONG).giveUp());
        RestartPolicy.Decision d = p.onCrash(SERVED_LONG);
        assertTrue(d.giveUp());
        assertEquals(4, d.crashesInWindow());
    }

    @Test
    void crashesOlderThanTheWindowNoLongerCount() {
        RestartPolicy p = policy(3);
        p.onCrash(NEVER_SERVED);
        p.onCrash(NEVER_SERVED);
        p.onCrash(NEVER_SERVED);
        now.addAndGet(Duration.ofSeconds(61).toNanos());
        RestartPolicy.Decision d = p.onCrash(SERVED_LONG);
        assertFalse(d.giveUp());
        assertEquals(1, d.crashesInWindow());
    }
}
