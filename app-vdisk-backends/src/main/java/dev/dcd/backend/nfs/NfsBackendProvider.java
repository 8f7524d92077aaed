package dev.dcd.backend.nfs;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendProvider;

import java.io.IOException;
import java.net.URI;

/** {@code nfs://HOST[:PORT]/EXPORT/PATH?...}: vdisks in a directory of an NFS export, through libnfs. */
public final class NfsBackendProvider implements BackendProvider {
    @Override
    public String scheme() {
        return "nfs";
    }

    @Override
    public void validate(URI uri) {
        NfsConfig.parse(uri);
    }

    @Override
    public Backend open(String name, URI uri) throws IOException {
        NfsConfig config = NfsConfig.parse(uri);
        return new NfsBackend(name, uri, config, LibNfs.get(), System::nanoTime, System::currentTimeMillis);
    }
}
