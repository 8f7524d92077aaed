package dev.dcd.backend;

import java.io.IOException;
import java.net.URI;

/**
 * Service-provider interface: one implementation per URI scheme, found through {@link java.util.ServiceLoader}
 * (listed in {@code META-INF/services/dev.dcd.backend.BackendProvider}).
 */
public interface BackendProvider {

    /** The URI scheme this provider serves, such as {@code local} or {@code s3}. */
    String scheme();

    /** Checks the URI without touching the store; a bad URI is a one-line {@link IllegalArgumentException}. */
    default void validate(URI uri) {
    }

    Backend open(String name, URI uri) throws IOException;
}
