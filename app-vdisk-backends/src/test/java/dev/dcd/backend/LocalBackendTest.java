package dev.dcd.backend;

import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.*;

class LocalBackendTest extends BackendContractTest {
    @Override
    protected Backend newBackend() throws Exception {
        return Backends.open("testlocal", URI.create("local://" + temp.resolve("store")));
    }

    @Test
    void theProviderIsFoundByScheme() {
        assertTrue(Backends.providers().containsKey("local"));
    }

    @Test
    void relativeOrHostedUrisAreRejectedWithOneLine() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Backends.validate(URI.create("local://host/dir")));
        assertFalse(e.getMessage().contains("\n"));
        assertThrows(IllegalArgumentException.class, () -> Backends.provider(URI.create("nosuch:///x")));
    }

    @Test
    void aFailedPutLeavesNoTemporaryFiles() throws Exception {
        aPutThatFailsMidwayLeavesNothingVisible();
        try (var files = Files.list(temp.resolve("store"))) {
            assertEquals(0, files.count());
        }
    }
}
