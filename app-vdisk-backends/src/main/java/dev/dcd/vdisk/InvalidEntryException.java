package dev.dcd.vdisk;

import java.io.IOException;

/** An archive entry that cannot go into a vdisk; the message is a complete one-line explanation. */
public final class InvalidEntryException extends IOException {
    public InvalidEntryException(String message) {
        super(message);
    }
}
