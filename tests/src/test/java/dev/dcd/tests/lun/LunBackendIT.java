package dev.dcd.tests.lun;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendContractTest;
import dev.dcd.backend.Backends;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;

import java.util.List;

/** The backend contract against a LUN: a fresh 256 MiB nbdkit memory export per test, blank, formatted on first use. */
@Timeout(120)
class LunBackendIT extends BackendContractTest {
    private NbdServer server;

    @Override
    protected Backend newBackend() throws Exception {
        server = NbdServer.nbdkit(temp, List.of(), "memory", "256M");
        return Backends.open("lun-contract", server.uri());
    }

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.close();
        }
    }
}
