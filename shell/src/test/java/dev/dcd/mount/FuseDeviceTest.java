package dev.dcd.mount;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The readahead window a low-level mount gets: found through mountinfo, written to the mount's bdi. */
class FuseDeviceTest {
    @TempDir
    Path tmp;

    private Path mountinfo() throws IOException {
        return Files.writeString(tmp.resolve("mountinfo"), String.join("\n",
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
                "90 22 0:77 / /mnt/web\\0401 rw,nosuid,nodev,relatime shared:50 - fuse.dcd dcd:web1 rw,user_id=0",
                "91 90 0:81 / /mnt/other rw,nosuid,nodev,relatime shared:51 - fuse.dcd dcd:web2 rw,user_id=0",
                ""));
    }

    private Path bdi(String device) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("bdi").resolve(device));
        return Files.writeString(dir.resolve("read_ahead_kb"), "128\n");
    }

    @Test
    void raisesTheReadaheadOfTheMountAtThePathToOneMebibyte() throws IOException {
        Path ours = bdi("0:77");
        Path other = bdi("0:81");
        assertTrue(FuseDevice.raiseReadahead(Path.of("/mnt/web 1"), mountinfo(), tmp.resolve("bdi")));
        assertEquals("1024", Files.readString(ours));
        assertEquals("128\n", Files.readString(other), "another mount's window is left alone");
    }

    @Test
    void anUnknownMountpointOrAMissingBdiChangesNothing() throws IOException {
        Path ours = bdi("0:77");
        assertFalse(FuseDevice.raiseReadahead(Path.of("/mnt/nowhere"), mountinfo(), tmp.resolve("bdi")));
        assertFalse(FuseDevice.raiseReadahead(Path.of("/mnt/other"), mountinfo(), tmp.resolve("bdi")), "no bdi 0:81");
        assertFalse(FuseDevice.raiseReadahead(Path.of("/mnt/web 1"), tmp.resolve("absent"), tmp.resolve("bdi")));
        assertEquals("128\n", Files.readString(ours));
    }
}
