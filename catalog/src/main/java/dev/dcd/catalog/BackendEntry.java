package dev.dcd.catalog;

import java.net.URI;

/** A named backend as the catalog records it. */
public record BackendEntry(String name, String uri) {
    public URI parsedUri() {
        return URI.create(uri);
    }
}
