package dev.dcd.backend.nfs;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class LibNfsTest {
    @Test
    void aMissingLibraryIsOneLineThatSaysWhatToInstall() {
        LibNfs.UnavailableException e = assertThrows(LibNfs.UnavailableException.class, () -> LibNfs.load(null));
        assertEquals("libnfs 4 (libnfs.so.13) is not installed; install it with 'apt-get install libnfs13'", e.getMessage());
    }

    @Test
    void aLibraryThatWillNotLoadIsOneLineToo() {
        LibNfs.UnavailableException e = assertThrows(LibNfs.UnavailableException.class,
                () -> LibNfs.load(Path.of("/nonexistent/libnfs.so.13")));
        assertTrue(e.getMessage().contains("could not be loaded") && e.getMessage().contains("apt-get install libnfs13"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void theInstalledLibraryLoadsByItsSoname() throws Exception {
        LibNfs lib = LibNfs.get();
        jnr.ffi.Pointer ctx = lib.api().nfs_init_context();
        assertNotNull(ctx, "libnfs13 is a test dependency (./dcd test installs it)");
        lib.api().nfs_destroy_context(ctx);
    }
}
