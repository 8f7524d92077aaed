package dev.dcd.mount;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What dcd stats reads from a mount record about the supervisor and its servers. */
class SupervisionRecordTest {
    @TempDir
    Path home;

    @Test
    void aSupervisedRecordNamesSupervisorServerStandbyAndRestarts() throws IOException {
        write("vm=web1\nmountpoint=/mnt/w\npid=5\nserver-pid=7\nstandby-pid=9\nrestarts=3\nsupervised=true\n");
        assertEquals(new MountService.Supervision(5, 7, 9, 3), MountService.supervision(home, "web1").orElseThrow());
    }

    @Test
    void aPlainMountHasNoSupervision() throws IOException {
        write("vm=web1\nmountpoint=/mnt/w\npid=5\n");
        assertTrue(MountService.supervision(home, "web1").isEmpty());
        assertTrue(MountService.supervision(home, "other").isEmpty(), "no record at all");
    }

    private void write(String record) throws IOException {
        Files.createDirectories(home.resolve("mounts"));
        Files.writeString(home.resolve("mounts/web1.pid"), record);
    }
}
