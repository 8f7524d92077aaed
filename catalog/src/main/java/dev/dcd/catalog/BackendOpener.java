package dev.dcd.catalog;

import dev.dcd.backend.Backend;

import java.io.IOException;

/** Opens a catalog backend by name; the caller owns (and eventually closes) what it returns. */
@FunctionalInterface
public interface BackendOpener {
    Backend open(String name) throws IOException;
}
