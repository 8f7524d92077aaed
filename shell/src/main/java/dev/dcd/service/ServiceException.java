package dev.dcd.service;

import java.io.IOException;

/**
 * A use case that cannot be done as asked, for a reason the message states in one complete line (the CLI prints
 * it after {@code dcd: }). Refusals the catalog makes stay {@link dev.dcd.catalog.CatalogException}s; this one
 * carries what the layers beside the catalog refuse, such as a mount that cannot start.
 */
public final class ServiceException extends IOException {
    public ServiceException(String message) {
        super(message);
    }

    public ServiceException(String message, Throwable cause) {
        super(message, cause);
    }
}
