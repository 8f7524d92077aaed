package dev.dcd.tests.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ./dcd demo} on a fresh home, twice: the second run reuses everything the first one made. */
class DemoIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path home;

    @Test
    void theDemoRunsTwiceInARowOnAFreshHome() throws Exception {
        Map<String, String> env = Map.of("HOME", home.toString());
        Dcd.Result first = Dcd.exec(Dcd.REPO, env, List.of("./dcd", "demo"));
        assertEquals(0, first.code(), first.toString());
        assertTrue(first.out().contains("imported greet@1.0.0 from a .tar.gz"), first.toString());
        assertTrue(first.out().contains("imported handbook@0.3 from a .zip"), first.toString());
        assertTrue(first.out().contains("imported webapp@2.1.0 from a directory"), first.toString());
        assertTrue(first.out().contains("created VM demo"), first.toString());

        Dcd.Result second = Dcd.exec(Dcd.REPO, env, List.of("./dcd", "demo"));
        assertEquals(0, second.code(), second.toString());
        assertTrue(second.out().contains("greet@1.0.0 is already imported, skipping"), second.toString());
        assertTrue(second.out().contains("VM demo exists, reusing it"), second.toString());

        Path dcdHome = home.resolve(".dcd");
        Path mountpoint = dcdHome.resolve("mnt").resolve("demo");
        try {
            assertTrue(first.out().contains("built demo generation 1"), first.toString());
            assertTrue(first.out().contains("mounted demo at " + mountpoint), first.toString());
            assertTrue(first.out().contains("disk.img: 29/"), "e2fsck's summary of the mounted disk.img\n" + first);
            assertTrue(first.out().contains(" README.md -> v0.3/index.md\n"), "ls of files/\n" + first);
            assertTrue(second.out().contains("generation 1 is up to date"), second.toString());
            assertTrue(second.out().contains("demo is already mounted at " + mountpoint), second.toString());
            assertEquals(Files.readString(Dcd.REPO.resolve("samples/greet-1.0.0/bin/greet")),
                    Files.readString(mountpoint.resolve("files/bin/greet")), "file content read through the mount");
        } finally {
            Dcd.exec(Dcd.REPO, env, List.of("./dcd", "umount", mountpoint.toString()));
        }
        JsonNode apps = JSON.readTree(Dcd.ok(dcdHome, "--json", "catalog", "list").out());
        assertEquals(3, apps.size());
        JsonNode vm = JSON.readTree(Dcd.ok(dcdHome, "--json", "vm", "show", "demo").out());
        assertEquals(3, vm.get("apps").size());
        String handbook = Dcd.ok(dcdHome, "catalog", "show", "handbook").out();
        assertTrue(handbook.contains(" latest -> v0.3\n"), handbook);
    }
}
