package dev.dcd.mount;

/** A mount or unmount that cannot go ahead; the message is one line meant for the user. */
public final class MountException extends Exception {
    public MountException(String message) {
        super(message);
    }

    public MountException(String message, Throwable cause) {
        super(message, cause);
    }
}
