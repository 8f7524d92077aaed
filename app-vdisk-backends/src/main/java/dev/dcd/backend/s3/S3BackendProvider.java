package dev.dcd.backend.s3;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendProvider;

import java.io.IOException;
import java.net.URI;

/**
 * {@code s3://BUCKET/PREFIX?endpoint=http://host:port&region=us-east-1&path-style=true}: vdisks as objects in an
 * S3-compatible store. Credentials are never part of the URI; see docs/s3-backend.md.
 */
public final class S3BackendProvider implements BackendProvider {
    @Override
    public String scheme() {
        return "s3";
    }

    @Override
    public void validate(URI uri) {
        S3Config.parse(uri);
    }

    @Override
    public Backend open(String name, URI uri) throws IOException {
        return new S3Backend(name, uri, S3Config.parse(uri));
    }
}
