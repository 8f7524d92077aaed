package dev.dcd.tests.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FAT has no symlinks; {@code vm create --symlinks} chooses what a FAT32 disk does with them. */
class Fat32SymlinkPolicyCliIT {
    @TempDir
    Path temp;

    private Path app() throws Exception {
        Path app = temp.resolve("linky-1.0");
        Files.createDirectories(app.resolve("doc"));
        Files.writeString(app.resolve("doc/guide.txt"), "the guide\n");
        Files.createSymbolicLink(app.resolve("README"), Path.of("doc/guide.txt"));
        return app;
    }

    /** mtools reads the file at PATH of the partition inside a raw disk image. */
    private static Dcd.Result mtype(Path image, String path) throws Exception {
        return Dcd.exec(image.getParent(), Map.of("MTOOLS_SKIP_CHECK", "1"),
                List.of("mtype", "-i", image + "@@1048576", "::" + path));
    }

    @Test
    void copyPutsTheTargetsContentWhereTheLinkWas() throws Exception {
        Path home = temp.resolve("home");
        Dcd.ok(home, "catalog", "import", app().toString());
        Dcd.ok(home, "vm", "create", "usb", "--fs", "fat32", "--size", "64M", "--symlinks", "copy");
        assertTrue(Dcd.ok(home, "vm", "show", "usb").out().contains("symlinks: copy"));
        Dcd.ok(home, "vm", "assign", "usb", "linky");
        Dcd.ok(home, "disk", "build", "usb");
        Path image = temp.resolve("usb.img");
        Dcd.ok(home, "disk", "export", "usb", image.toString());
        assertEquals("the guide\n", mtype(image, "/README").out());
        assertEquals("the guide\n", mtype(image, "/doc/guide.txt").out());
    }

    @Test
    void skipLeavesTheLinkOutWithAWarning() throws Exception {
        Path home = temp.resolve("home");
        Dcd.ok(home, "catalog", "import", app().toString());
        Dcd.ok(home, "vm", "create", "usb", "--fs", "fat32", "--size", "64M");
        Dcd.ok(home, "vm", "assign", "usb", "linky");
        Dcd.Result build = Dcd.ok(home, "disk", "build", "usb");
        assertTrue(build.err().contains("warning") && build.err().contains("README"), build.toString());
        Path image = temp.resolve("usb.img");
        Dcd.ok(home, "disk", "export", "usb", image.toString());
        assertFalse(mtype(image, "/README").code() == 0, "the skipped link is not on the disk");
        assertEquals("the guide\n", mtype(image, "/doc/guide.txt").out());
    }

    @Test
    void thePolicyIsRefusedForExt4AndUnknownValuesAreRefused() throws Exception {
        Path home = temp.resolve("home");
        Dcd.Result ext4 = Dcd.jar(home, "vm", "create", "vm1", "--symlinks", "copy");
        assertEquals(1, ext4.code(), ext4.toString());
        assertEquals("dcd: --symlinks applies to fat32 disks only; ext4 keeps symlinks as they are\n", ext4.err());
        Dcd.Result odd = Dcd.jar(home, "vm", "create", "vm2", "--fs", "fat32", "--symlinks", "follow");
        assertEquals(1, odd.code(), odd.toString());
        assertEquals("dcd: unknown --symlinks 'follow' (expected skip or copy)\n", odd.err());
        assertTrue(Dcd.ok(home, "vm", "list").out().lines().noneMatch(l -> l.startsWith("vm1") || l.startsWith("vm2")));
    }
}
