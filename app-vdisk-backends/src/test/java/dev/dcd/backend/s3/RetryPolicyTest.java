package dev.dcd.backend.s3;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

class RetryPolicyTest {
    /** A clock that only moves when the policy sleeps or an attempt takes time. */
    private static final class FakeTime {
        long now = 1_000_000_000L;
        final List<Long> sleeps = new ArrayList<>();

        RetryPolicy policy(int retries, long baseMs, long maxMs) {
            return new RetryPolicy(retries, Duration.ofMillis(baseMs), Duration.ofMillis(maxMs), () -> now,
                    nanos -> {
                        sleeps.add(nanos / 1_000_000);
                        now += nanos;
                    }, t -> t instanceof IOException ? RetryPolicy.Verdict.TRANSIENT : RetryPolicy.Verdict.PERMANENT);
        }
    }

    @Test
    void aTransientFailureIsRetriedWithExponentialBackoffUntilItSucceeds() throws Exception {
        FakeTime time = new FakeTime();
        RetryPolicy policy = time.policy(5, 50, 1000);
        AtomicInteger calls = new AtomicInteger();
        String result = policy.run(policy.deadlineAfter(Duration.ofSeconds(30)), remaining -> {
            if (calls.incrementAndGet() < 4) {
                throw new IOException("connection reset");
            }
            return "ok";
        });
        assertEquals("ok", result);
        assertEquals(4, calls.get());
        assertEquals(List.of(50L, 100L, 200L), time.sleeps);
    }

    @Test
    void backoffIsCappedAtTheMaximumDelay() {
        RetryPolicy policy = new FakeTime().policy(50, 100, 1000);
        assertEquals(100_000_000L, policy.delayBefore(1));
        assertEquals(800_000_000L, policy.delayBefore(4));
        assertEquals(1_000_000_000L, policy.delayBefore(5));
        assertEquals(1_000_000_000L, policy.delayBefore(40));
    }

    @Test
    void aPermanentFailureIsNotRetried() {
        FakeTime time = new FakeTime();
        RetryPolicy policy = time.policy(5, 50, 1000);
        AtomicInteger calls = new AtomicInteger();
        RetryPolicy.Failure f = assertThrows(RetryPolicy.Failure.class,
                () -> policy.run(policy.deadlineAfter(Duration.ofSeconds(30)), remaining -> {
                    calls.incrementAndGet();
                    throw new IllegalStateException("404 not found");
                }));
        assertEquals(1, calls.get());
        assertFalse(f.isTransient());
        assertTrue(time.sleeps.isEmpty());
        assertEquals("404 not found", f.getMessage());
    }

    @Test
    void retriesStopAfterTheConfiguredCount() {
        FakeTime time = new FakeTime();
        RetryPolicy policy = time.policy(2, 10, 1000);
        AtomicInteger calls = new AtomicInteger();
        RetryPolicy.Failure f = assertThrows(RetryPolicy.Failure.class,
                () -> policy.run(policy.deadlineAfter(Duration.ofSeconds(30)), remaining -> {
                    calls.incrementAndGet();
                    throw new IOException("HTTP 503");
                }));
        assertEquals(3, calls.get());
        assertEquals(3, f.attempts());
        assertFalse(f.deadlineReached());
        assertTrue(f.getMessage().startsWith("HTTP 503 (gave up after 3 attempts"), f.getMessage());
    }

    @Test
    void theDeadlineEndsRetriesEvenWhenRetriesRemain() {
        FakeTime time = new FakeTime();
        RetryPolicy policy = time.policy(100, 100, 1000);
        long deadline = policy.deadlineAfter(Duration.ofMillis(2000));
        AtomicInteger calls = new AtomicInteger();
        List<Long> budgets = new ArrayList<>();
        RetryPolicy.Failure f = assertThrows(RetryPolicy.Failure.class, () -> policy.run(deadline, remaining -> {
            calls.incrementAndGet();
            budgets.add(remaining.toMillis());
            time.now += 150_000_000L; // each attempt takes 150 ms before failing
            throw new IOException("connection refused");
        }));
        assertTrue(f.deadlineReached());
        assertTrue(time.now <= deadline, "never sleeps past the deadline");
        // 150 + 100 + 150 + 200 + 150 + 400 + 150 + 800 = 2100 > 2000: the fourth pause would cross it.
        assertEquals(4, calls.get());
        assertEquals(List.of(100L, 200L, 400L), time.sleeps);
        assertEquals(List.of(2000L, 1750L, 1400L, 850L), budgets, "each attempt is told the time left");
        assertTrue(f.getMessage().contains("the deadline leaves no time for another"), f.getMessage());
    }

    @Test
    void anAttemptStartedAfterTheDeadlineIsNotMade() {
        FakeTime time = new FakeTime();
        RetryPolicy policy = time.policy(3, 10, 100);
        long deadline = time.now - 1;
        RetryPolicy.Failure f = assertThrows(RetryPolicy.Failure.class, () -> policy.run(deadline, remaining -> {
            fail("must not run");
            return null;
        }));
        assertEquals(0, f.attempts());
    }
}
