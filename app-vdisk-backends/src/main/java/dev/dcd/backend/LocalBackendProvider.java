package dev.dcd.backend;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;

/** {@code local:///abs/dir}: one file per vdisk in a directory. */
public final class LocalBackendProvider implements BackendProvider {
    @Override
    public String scheme() {
        return "local";
    }

    @Override
    public void validate(URI uri) {
        directory(uri);
    }

    @Override
    public Backend open(String name, URI uri) throws IOException {
        return new LocalBackend(name, uri, directory(uri));
    }

    static Path directory(URI uri) {
        String path = uri.getPath();
        if (uri.getAuthority() != null || path == null || !path.startsWith("/")) {
            throw new IllegalArgumentException("local backend URI '" + uri + "' must be local:///absolute/dir");
        }
        return Path.of(path);
    }
}
