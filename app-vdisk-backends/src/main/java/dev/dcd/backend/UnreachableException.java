package dev.dcd.backend;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import java.util.Optional;

/**
 * A store that could not be reached by {@link Backend#reach()}: which server, what failed in the words a user
 * acts on (refused, no answer within the timeout, unknown host, or anything else in the backend's words), and
 * what to do about it.
 */
public final class UnreachableException extends IOException {
    /** What failed; each has its own advice. */
    public enum Reason {
        /** Nothing listens at the address: the connection was refused. */
        REFUSED("start the server or check the port"),
        /** Something took the connection (or the packets) but did not answer in time. */
        NO_ANSWER("check that the address is the server's and that the server is running"),
        /** The host name does not resolve. */
        UNKNOWN_HOST("check the host name"),
        /**
         * Reached, but not usable as asked: the server said no (no such export, bucket or LUN; not allowed), speaks
         * another protocol, or the credentials are missing.
         */
        FAILED("check the URI and what the server offers");

        private final String advice;

        Reason(String advice) {
            this.advice = advice;
        }
    }

    private final Reason reason;

    private UnreachableException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public static UnreachableException refused(String server, Throwable cause) {
        return new UnreachableException(Reason.REFUSED, "connection refused by " + server, cause);
    }

    public static UnreachableException noAnswer(String server, Duration waited, Throwable cause) {
        return new UnreachableException(Reason.NO_ANSWER, "no answer from " + server + " within " + format(waited), cause);
    }

    public static UnreachableException unknownHost(String host, Throwable cause) {
        return new UnreachableException(Reason.UNKNOWN_HOST, "unknown host " + host, cause);
    }

    /** Any other failure; {@code detail} says what, in the backend's words. */
    public static UnreachableException failed(String detail, Throwable cause) {
        return new UnreachableException(Reason.FAILED, detail, cause);
    }

    /**
     * What a failed attempt to reach {@code server} (host {@code host}, tried for at most {@code timeout}) means,
     * read from the exceptions the JDK and HTTP clients throw anywhere in its cause chain; empty when none of
     * them is there (the server answered, or something else went wrong: the caller says what).
     */
    public static Optional<UnreachableException> classify(String server, String host, Duration timeout, Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof UnreachableException u) {
                return Optional.of(u);
            }
            if (t instanceof UnknownHostException || t instanceof UnresolvedAddressException) {
                return Optional.of(unknownHost(host, failure));
            }
            if (t instanceof ConnectException) {
                return Optional.of(refused(server, failure));
            }
            if (t instanceof SocketTimeoutException || t instanceof InterruptedIOException) {
                return Optional.of(noAnswer(server, timeout, failure));
            }
        }
        return Optional.empty();
    }

    public Reason reason() {
        return reason;
    }

    /** What the user can do about it, e.g. "start the server or check the port". */
    public String advice() {
        return reason.advice;
    }

    /** "5 s", "1.5 s", "300 ms". */
    static String format(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        return ms % 1000 == 0 ? ms / 1000 + " s" : String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0);
    }
}
