package dev.dcd.catalog;

import java.io.IOException;

/** Something the user asked for that the catalog refuses; the message is one complete line. */
public final class CatalogException extends IOException {
    public CatalogException(String message) {
        super(message);
    }

    public CatalogException(String message, Throwable cause) {
        super(message, cause);
    }
}
