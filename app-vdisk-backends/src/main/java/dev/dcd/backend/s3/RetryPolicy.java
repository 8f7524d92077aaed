package dev.dcd.backend.s3;

import java.time.Duration;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Retries transient failures with exponential backoff, bounded both by a number of retries and by a
 * deadline, so that a dead server turns into a clear error in bounded time instead of a hang.
 * Permanent failures (a 404, a 403, a checksum mismatch) are never retried.
 *
 * <p>The clock and the sleeper are injected so the policy can be tested without waiting.
 */
final class RetryPolicy {
    enum Verdict { TRANSIENT, PERMANENT }

    @FunctionalInterface
    interface Sleeper {
        void sleep(long nanos) throws InterruptedException;
    }

    /** One try; {@code remaining} is the time left before the deadline, for the attempt's own timeout. */
    @FunctionalInterface
    interface Attempt<T> {
        T run(Duration remaining) throws Exception;
    }

    static final Sleeper REAL_SLEEPER = nanos -> Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));

    private final int retries;
    private final long baseDelayNanos;
    private final long maxDelayNanos;
    private final LongSupplier clock;
    private final Sleeper sleeper;
    private final Function<Throwable, Verdict> classifier;

    RetryPolicy(int retries, Duration baseDelay, Duration maxDelay, LongSupplier clock, Sleeper sleeper,
                Function<Throwable, Verdict> classifier) {
        if (retries < 0 || baseDelay.isNegative() || maxDelay.compareTo(baseDelay) < 0) {
            throw new IllegalArgumentException("bad retry policy");
        }
        this.retries = retries;
        this.baseDelayNanos = baseDelay.toNanos();
        this.maxDelayNanos = maxDelay.toNanos();
        this.clock = clock;
        this.sleeper = sleeper;
        this.classifier = classifier;
    }

    long now() {
        return clock.getAsLong();
    }

    /** The absolute deadline (in the policy's clock) that is {@code budget} from now. */
    long deadlineAfter(Duration budget) {
        return clock.getAsLong() + budget.toNanos();
    }

    /** The pause before retry number {@code retry} (1-based): base, 2 base, 4 base, ... capped. */
    long delayBefore(int retry) {
        int shift = Math.min(retry - 1, 30);
        long delay = baseDelayNanos << shift;
        return delay < 0 || delay > maxDelayNanos ? maxDelayNanos : delay;
    }

    /**
     * Runs {@code attempt} until it succeeds, fails permanently, runs out of retries, or the next try could
     * not start before {@code deadlineNanos}.
     */
    <T> T run(long deadlineNanos, Attempt<T> attempt) throws Failure, InterruptedException {
        long start = clock.getAsLong();
        int attempts = 0;
        while (true) {
            long remaining = deadlineNanos - clock.getAsLong();
            if (remaining <= 0) {
                throw new Failure(attempts, clock.getAsLong() - start, true, true,
                        new java.util.concurrent.TimeoutException("deadline passed before the first attempt"));
            }
            attempts++;
            Throwable failure;
            try {
                return attempt.run(Duration.ofNanos(remaining));
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                failure = e;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedException("interrupted during retry");
            }
            boolean isTransient = classifier.apply(failure) == Verdict.TRANSIENT;
            if (!isTransient) {
                throw new Failure(attempts, clock.getAsLong() - start, false, false, failure);
            }
            if (attempts > retries) {
                throw new Failure(attempts, clock.getAsLong() - start, true, false, failure);
            }
            long delay = delayBefore(attempts);
            if (clock.getAsLong() + delay >= deadlineNanos) {
                throw new Failure(attempts, clock.getAsLong() - start, true, true, failure);
            }
            sleeper.sleep(delay);
        }
    }

    /** Why the policy gave up; the message says how hard it tried and the last cause. */
    static final class Failure extends Exception {
        private final int attempts;
        private final boolean isTransient;
        private final boolean deadlineReached;

        Failure(int attempts, long elapsedNanos, boolean isTransient, boolean deadlineReached, Throwable cause) {
            super(describe(attempts, elapsedNanos, isTransient, deadlineReached, cause), cause);
            this.attempts = attempts;
            this.isTransient = isTransient;
            this.deadlineReached = deadlineReached;
        }

        int attempts() {
            return attempts;
        }

        boolean isTransient() {
            return isTransient;
        }

        boolean deadlineReached() {
            return deadlineReached;
        }

        private static String describe(int attempts, long elapsedNanos, boolean isTransient, boolean deadline,
                                       Throwable cause) {
            String why = S3Errors.describe(cause);
            if (!isTransient) {
                return why;
            }
            return why + " (gave up after " + attempts + (attempts == 1 ? " attempt" : " attempts") + " in "
                    + elapsedNanos / 1_000_000 + " ms" + (deadline ? ", the deadline leaves no time for another" : "") + ")";
        }
    }
}
