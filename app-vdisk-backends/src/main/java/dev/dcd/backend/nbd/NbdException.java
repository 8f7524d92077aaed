package dev.dcd.backend.nbd;

import java.io.IOException;

/**
 * A failure the server reported (an errno in a reply, or an error reply to an option). {@link #transientError()}
 * says whether asking again may help: EIO and a shutting-down server may; EINVAL, EPERM, ENOSPC or an unknown
 * export never will.
 */
public final class NbdException extends IOException {
    private final boolean transientError;
    private final boolean answered;

    NbdException(String message, boolean transientError) {
        this(message, transientError, false);
    }

    private NbdException(String message, boolean transientError, boolean answered) {
        super(message);
        this.transientError = transientError;
        this.answered = answered;
    }

    /** True when the server answered with an error reply: the connection is still in step and may be reused. */
    boolean answered() {
        return answered;
    }

    public boolean transientError() {
        return transientError;
    }

    static NbdException fromErrno(String what, int error) {
        boolean again = error == NbdProtocol.EIO || error == NbdProtocol.ESHUTDOWN || error == NbdProtocol.ENOMEM;
        return new NbdException(what + ": server answered " + NbdProtocol.errorName(error), again, true);
    }
}
