package dev.dcd.catalog;

import java.io.IOException;

/** The source could not be read: truncated, corrupt, or not the format its name claims. One line. */
final class CorruptSourceException extends IOException {
    CorruptSourceException(String message, Throwable cause) {
        super(message, cause);
    }
}
