package dev.dcd.filter;

import java.io.IOException;

/** A read of one app's data failed; the message names the app and its backend so one bad store is easy to spot. */
public final class AppReadException extends IOException {
    private final String app;
    private final String backend;

    AppReadException(VdiskLabel label, String message, Throwable cause) {
        super("app " + label.app() + " on backend '" + label.backend() + "': " + message, cause);
        this.app = label.app();
        this.backend = label.backend();
    }

    public String app() {
        return app;
    }

    public String backend() {
        return backend;
    }
}
