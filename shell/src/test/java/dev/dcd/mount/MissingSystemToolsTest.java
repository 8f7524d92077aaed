package dev.dcd.mount;

import dev.dcd.shell.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A machine that lacks what mounting needs hears which package to install, in one line, before anything starts. */
class MissingSystemToolsTest {
    @TempDir
    Path temp;

    record Result(int code, String out, String err) {
    }

    private Result dcd(Map<String, String> extraEnv, String... args) {
        Map<String, String> env = new HashMap<>(Map.of("DCD_HOME", temp.resolve("home").toString(),
                "HOME", temp.resolve("user").toString()));
        env.putAll(extraEnv);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, out, err, env, Clock.systemUTC(), false);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A PATH directory holding executables of these names and nothing else. */
    private String pathWith(String... tools) throws IOException {
        Path bin = Files.createDirectories(temp.resolve("bin-" + String.join("-", tools)));
        for (String tool : tools) {
            Files.writeString(bin.resolve(tool), "#!/bin/sh\nexit 0\n");
            Files.setPosixFilePermissions(bin.resolve(tool), PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return bin.toString();
    }

    private void assertNothingStarted(Path mountpoint) throws IOException {
        assertFalse(Files.exists(temp.resolve("home/mounts")), "no pid file");
        assertFalse(Files.exists(temp.resolve("home/log")), "no serving process log");
        try (Stream<Path> entries = Files.list(mountpoint)) {
            assertEquals(0, entries.count());
        }
    }

    @Test
    void mountWithoutLibfuse2SaysWhatToInstallBeforeStartingAServer() throws IOException {
        Path mnt = Files.createDirectories(temp.resolve("mnt"));

        Result r = dcd(Map.of(SystemTools.LIBFUSE_ENV, "libfuse-not-here.so.2"), "mount", "demo", mnt.toString());

        assertEquals(1, r.code(), r.toString());
        assertEquals("dcd: libfuse2 is not installed (libfuse-not-here.so.2 not found); install it with: "
                + "apt-get install libfuse2\n", r.err());
        assertEquals("", r.out());
        assertNothingStarted(mnt);
    }

    @Test
    void mountWithoutFusermountSaysWhatToInstall() throws IOException {
        Path mnt = Files.createDirectories(temp.resolve("mnt"));

        Result r = dcd(Map.of("PATH", pathWith("losetup")), "mount", "demo", mnt.toString());

        assertEquals(1, r.code(), r.toString());
        assertEquals("dcd: fusermount is not installed (not on PATH); install it with: apt-get install fuse3\n", r.err());
        assertNothingStarted(mnt);
    }

    @Test
    void umountWithoutFusermountOrLosetupSaysWhatToInstall() throws IOException {
        Path mnt = Files.createDirectories(temp.resolve("mnt"));

        Result noFusermount = dcd(Map.of("PATH", pathWith("losetup")), "umount", mnt.toString());
        Result noLosetup = dcd(Map.of("PATH", pathWith("fusermount")), "umount", mnt.toString());

        assertEquals("dcd: fusermount is not installed (not on PATH); install it with: apt-get install fuse3\n",
                noFusermount.err());
        assertEquals("dcd: losetup is not installed (not on PATH); install it with: apt-get install mount\n",
                noLosetup.err());
        assertEquals(1, noLosetup.code());
    }

    @Test
    void thisMachineWithItsRealLibfuse2AndToolsPassesEveryCheck() throws IOException {
        SystemTools real = SystemTools.of(System.getenv());
        assertDoesNotThrow(real::requireMount);
        assertDoesNotThrow(real::requireUmount);
        SystemTools fakeTools = SystemTools.of(Map.of("PATH", "/nonexistent:" + pathWith("fusermount", "losetup")));
        assertDoesNotThrow(fakeTools::requireUmount);
        assertThrows(MountException.class,
                () -> SystemTools.of(Map.of(SystemTools.LIBFUSE_ENV, "libfuse-not-here.so.2")).requireLibfuse());
    }
}
