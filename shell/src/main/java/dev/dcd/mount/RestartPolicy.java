package dev.dcd.mount;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.LongSupplier;

/**
 * When a supervised mount starts the next server after a crash. A server that had served for at least
 * {@code healthyAfter} before it died is not part of a crash loop: the next standby starts at once. Servers
 * that die sooner (one that cannot open the disk, a request that kills every server it is resent to) start
 * the next one after a backoff that doubles per such crash in a row, up to a ceiling. More than
 * {@code maxCrashes} crashes of any kind within {@code window} mean the server cannot run, and the
 * supervisor gives up. Not thread-safe: the supervisor's loop owns it.
 */
final class RestartPolicy {
    /** What to do after a crash: start the next server after {@code delay}, or give up. */
    record Decision(boolean giveUp, Duration delay, int crashesInWindow) {
    }

    private final int maxCrashes;
    private final Duration window;
    private final Duration healthyAfter;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final LongSupplier nanoClock;
    private final Deque<Long> crashes = new ArrayDeque<>();
    private int quickCrashesInARow;

    private RestartPolicy(Builder b) {
        this.maxCrashes = b.maxCrashes;
        this.window = b.window;
        this.healthyAfter = b.healthyAfter;
        this.initialBackoff = b.initialBackoff;
        this.maxBackoff = b.maxBackoff;
        this.nanoClock = b.nanoClock;
    }

    static Builder builder() {
        return new Builder();
    }

    Duration window() {
        return window;
    }

    /** Records a crash now of a server that had served for {@code served} (zero: it never served) and decides. */
    Decision onCrash(Duration served) {
        long now = nanoClock.getAsLong();
        crashes.addLast(now);
        while (!crashes.isEmpty() && now - crashes.peekFirst() > window.toNanos()) {
            crashes.removeFirst();
        }
        int n = crashes.size();
        if (n > maxCrashes) {
            return new Decision(true, Duration.ZERO, n);
        }
        if (served.compareTo(healthyAfter) >= 0) {
            quickCrashesInARow = 0;
            return new Decision(false, Duration.ZERO, n);
        }
        quickCrashesInARow++;
        long shift = Math.min(quickCrashesInARow - 1, 30);
        Duration delay = initialBackoff.multipliedBy(1L << shift);
        return new Decision(false, delay.compareTo(maxBackoff) > 0 ? maxBackoff : delay, n);
    }

    static final class Builder {
        private int maxCrashes = 30;
        private Duration window = Duration.ofMinutes(1);
        private Duration healthyAfter = Duration.ofSeconds(1);
        private Duration initialBackoff = Duration.ofMillis(100);
        private Duration maxBackoff = Duration.ofSeconds(5);
        private LongSupplier nanoClock = System::nanoTime;

        /** Crashes tolerated within the window; one more gives up. */
        Builder maxCrashes(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxCrashes must be at least 1");
            }
            this.maxCrashes = n;
            return this;
        }

        Builder window(Duration d) {
            this.window = d;
            return this;
        }

        /** How long a server must have served for its crash not to count as part of a crash loop. */
        Builder healthyAfter(Duration d) {
            this.healthyAfter = d;
            return this;
        }

        Builder initialBackoff(Duration d) {
            this.initialBackoff = d;
            return this;
        }

        Builder maxBackoff(Duration d) {
            this.maxBackoff = d;
            return this;
        }

        Builder nanoClock(LongSupplier clock) {
            this.nanoClock = clock;
            return this;
        }

        RestartPolicy build() {
            return new RestartPolicy(this);
        }
    }
}
