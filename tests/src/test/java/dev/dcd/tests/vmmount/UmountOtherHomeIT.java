package dev.dcd.tests.vmmount;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;
import static dev.dcd.tests.vmmount.VmCli.quietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A mount belongs to the {@code $DCD_HOME} that serves it; another home's {@code dcd umount} refuses it. */
class UmountOtherHomeIT {
    @TempDir
    Path tmp;
    private Path homeA;
    private Path mountpoint;

    @AfterEach
    void cleanUp() {
        if (mountpoint != null) {
            quietly("java", "-jar", VmCli.JAR.toString(), "--home", homeA.toString(), "umount", mountpoint.toString());
            quietly("fusermount", "-u", "-z", mountpoint.toString());
        }
    }

    @Test
    void umountFromAnotherHomeIsRefusedNamingTheServingHomeAndTheMountKeepsServing() throws Exception {
        homeA = tmp.resolve("home-a");
        Path homeB = tmp.resolve("home-b");
        Path app = Files.createDirectories(tmp.resolve("note-1.0"));
        Files.writeString(app.resolve("note.txt"), "served by home a\n");
        dcdOk(homeA, "catalog", "import", app.toString());
        dcdOk(homeA, "vm", "create", "web", "--size", "64M");
        dcdOk(homeA, "vm", "assign", "web", "note");
        dcdOk(homeA, "disk", "build", "web");
        mountpoint = Files.createDirectories(tmp.resolve("mnt"));
        dcdOk(homeA, "mount", "web", mountpoint.toString());
        dcdOk(homeB, "catalog", "list"); // home b exists and is a real dcd home

        VmCli.Result refused = dcd(homeB, "umount", mountpoint.toString());

        assertEquals(1, refused.code(), refused.toString());
        String real = mountpoint.toRealPath().toString();
        assertEquals("dcd: " + real + " is served by another dcd home, " + homeA.toRealPath() + ", not "
                + homeB.toAbsolutePath().normalize() + "; unmount it from there: dcd --home " + homeA.toRealPath()
                + " umount " + real + "\n", refused.err(), refused.toString());
        assertEquals("served by home a\n", Files.readString(mountpoint.resolve("files/note.txt")), "still mounted");

        VmCli.Result own = dcdOk(homeA, "umount", mountpoint.toString());
        assertTrue(own.out().contains("unmounted " + real), own.toString());
        mountpoint = null;
    }
}
