package dev.dcd.backend.lun;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendProvider;
import dev.dcd.backend.nbd.NbdAddress;
import dev.dcd.backend.nbd.NbdConfig;

import java.io.IOException;
import java.net.URI;
import java.time.Clock;

/** {@code nbd://HOST:PORT/EXPORT}: app vdisks inside a LUN served over NBD (TCP). */
public class LunBackendProvider implements BackendProvider {
    @Override
    public String scheme() {
        return NbdAddress.TCP_SCHEME;
    }

    @Override
    public void validate(URI uri) {
        NbdConfig.fromQuery(NbdAddress.parse(uri).parameters());
    }

    @Override
    public Backend open(String name, URI uri) throws IOException {
        NbdAddress address = NbdAddress.parse(uri);
        return new LunBackend(name, uri, address, NbdConfig.fromQuery(address.parameters()), Clock.systemUTC());
    }
}
