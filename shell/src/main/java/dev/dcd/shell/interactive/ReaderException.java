package dev.dcd.shell.interactive;

/** A reader command that cannot do what it was asked (no such reader, name taken): one line for the user. */
final class ReaderException extends RuntimeException {
    ReaderException(String message) {
        super(message);
    }
}
