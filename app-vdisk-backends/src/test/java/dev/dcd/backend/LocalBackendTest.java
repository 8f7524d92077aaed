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

    @Test
    void aSealedFileOnTheSameFilesystemIsRenamedIntoPlaceNotCopied() throws Exception {
        var vdisk = sampleVdisk("moved", 11, 5, 100_000);
        Object inode = Files.getAttribute(vdisk.file(), "unix:ino");

        backend.putFile(vdisk.id(), vdisk.file(), Progress.NONE);

        assertFalse(Files.exists(vdisk.file()), "taken over, not copied");
        assertEquals(inode, Files.getAttribute(temp.resolve("store").resolve(vdisk.id().hex() + ".vdisk"), "unix:ino"));
        try (var files = Files.list(temp.resolve("store"))) {
            assertEquals(1, files.count(), "no temporary file beside it");
        }
    }
}
