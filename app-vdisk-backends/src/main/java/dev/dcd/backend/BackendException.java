package dev.dcd.backend;

import java.io.IOException;

/** A backend failure that always says which backend and which object, so one bad store is easy to spot. */
public class BackendException extends IOException {
    private final String backend;
    private final String object;

    public BackendException(String backend, String object, String message, Throwable cause) {
        super("backend '" + backend + "'" + (object == null ? "" : ", object " + object) + ": " + message, cause);
        this.backend = backend;
        this.object = object;
    }

    public BackendException(String backend, String object, String message) {
        this(backend, object, message, null);
    }

    public String backend() {
        return backend;
    }

    public String object() {
        return object;
    }
}
