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

    @Test
    void aPutRemovesTemporaryFilesOfPutsThatDiedAnHourAgoAndNoOthers() throws Exception {
        // What kill -9 of an import or a 'catalog move' during its copy leaves: a hidden temporary file, never
        // listed as a vdisk. The next put removes it once nobody can be writing it any more.
        long now = 1_800_000_000_000L;
        java.nio.file.Path store = Files.createDirectories(temp.resolve("swept"));
        Backend local = new LocalBackend("swept", URI.create("local://" + store), store, () -> now);
        String hex = "ab".repeat(32);
        java.nio.file.Path dead = Files.write(store.resolve("." + hex + "4711.tmp"), new byte[4096]);
        java.nio.file.Path writing = Files.write(store.resolve("." + hex + "815.tmp"), new byte[4096]);
        java.nio.file.Path notOurs = Files.write(store.resolve(".keep.tmp"), new byte[1]);
        Files.setLastModifiedTime(dead, java.nio.file.attribute.FileTime.fromMillis(now - LocalBackend.STALE_TEMP_MILLIS - 1));
        Files.setLastModifiedTime(writing, java.nio.file.attribute.FileTime.fromMillis(now - 60_000));
        Files.setLastModifiedTime(notOurs, java.nio.file.attribute.FileTime.fromMillis(0));
        assertEquals(java.util.List.of(), local.list(), "temporary files are never listed as vdisks");

        var vdisk = sampleVdisk("next", 12, 3, 10_000);
        try (var in = Files.newInputStream(vdisk.file())) {
            local.put(vdisk.id(), in, vdisk.length(), Progress.NONE);
        }

        assertFalse(Files.exists(dead), "a put dead for over an hour is swept");
        assertTrue(Files.exists(writing), "one written a minute ago may still be running: kept");
        assertTrue(Files.exists(notOurs), "files that are not a put's temporary are not touched");
        assertEquals(1, local.list().size());
    }
}
