package dev.dcd.backend;

import java.util.Locale;

/**
 * Checks of a backend URI's query parameters, worded alike for every backend: {@code s3 parameter 'retries' must be
 * between 0 and 20}. Each failure is an {@link IllegalArgumentException} whose message is the one line the user sees.
 */
public final class UriParameters {
    private final String backend;

    /** {@code backend} starts every message: {@code s3}, {@code nfs}, {@code nbd}. */
    public UriParameters(String backend) {
        this.backend = backend;
    }

    /** {@code value} as an int, or a one-line error naming {@code key}. */
    public int wholeNumber(String key, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(backend + " parameter '" + key + "' must be a whole number");
        }
    }

    /** {@code value} as a long, or a one-line error naming {@code key}. */
    public long number(String key, String value) {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(backend + " parameter '" + key + "' must be a whole number");
        }
    }

    /** {@code value} if it lies in {@code [min, max]}, else a one-line error naming {@code key} and the range. */
    public long range(String key, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(backend + " parameter '" + key + "' must be between " + min + " and "
                    + max);
        }
        return value;
    }

    /** As {@link #range}, for ranges within an int. */
    public int intRange(String key, long value, long min, long max) {
        return (int) range(key, value, min, max);
    }

    /** {@code true/1/yes} (or the bare key) and {@code false/0/no}; anything else is a one-line error. */
    public boolean bool(String key, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes", "" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException(backend + " parameter '" + key + "' must be true or false");
        };
    }

    /** Keeps a rejected name on one line and short; never used for values that may be secret. */
    public static String printable(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder out = new StringBuilder();
        s.codePoints().limit(80).forEach(c -> out.append(c < 0x20 || c == 0x7f ? '?' : (char) c));
        return out.toString();
    }
}
