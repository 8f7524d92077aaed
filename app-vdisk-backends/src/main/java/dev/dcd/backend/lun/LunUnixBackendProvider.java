package dev.dcd.backend.lun;

import dev.dcd.backend.nbd.NbdAddress;

/** {@code nbd+unix:///EXPORT?socket=PATH}: the same backend over a Unix domain socket. */
public final class LunUnixBackendProvider extends LunBackendProvider {
    @Override
    public String scheme() {
        return NbdAddress.UNIX_SCHEME;
    }
}
