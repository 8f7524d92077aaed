package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MountOwnersTest {
    private static final Path MP = Path.of("/srv/mnt/web1");
    private static final Path CWD = Path.of("/home/ann");

    private static Optional<Path> home(Map<String, String> env, String... args) throws Exception {
        return MountOwners.homeOf(List.of(args), () -> env, CWD, MP);
    }

    @Test
    void aServingProcessNamesItsHomeOnItsCommandLine() throws Exception {
        assertEquals(Optional.of(Path.of("/data/dcd-b")), home(Map.of(), "/usr/bin/java", "-Xss1m", "-jar", "/opt/dcd.jar",
                "--home", "/data/dcd-b", "mount-serve", "--", "web1", "/srv/mnt/web1"));
        assertEquals(Optional.of(Path.of("/home/ann/h")), home(Map.of(), "java", "-jar", "dcd.jar", "--home=h",
                "mount-serve", "web1", "/srv/mnt/web1"));
        assertEquals(Optional.of(Path.of("/x")), home(Map.of(), "java", "-jar", "dcd.jar", "--home", "/x", "mount-serve", "--",
                "-odd-vm-name", "/srv/mnt/web1"));
        // Options before "--" may carry values of their own (the generation served, an NBD address).
        assertEquals(Optional.of(Path.of("/x")), home(Map.of(), "java", "-jar", "dcd.jar", "--home", "/x", "mount-serve",
                "--generation", "2", "--nbd=unix:/x/run/web1.sock", "--", "web1", "/srv/mnt/web1"));
    }

    @Test
    void aForegroundMountTakesItsHomeFromTheEnvironmentAndARelativeMountpointFromItsCwd() throws Exception {
        assertEquals(Optional.of(Path.of("/var/dcd")), home(Map.of("DCD_HOME", "/var/dcd", "HOME", "/home/ann"),
                "java", "-jar", "dcd.jar", "mount", "web1", "../../srv/mnt/web1", "--foreground"));
        assertEquals(Optional.of(Path.of("/home/ann/.dcd")), home(Map.of("HOME", "/home/ann"),
                "java", "-jar", "dcd.jar", "mount", "web1", "/srv/mnt/web1", "--foreground"));
        assertEquals(Optional.of(Path.of("/home/ann/.dcd")), home(Map.of("HOME", "/home/ann"),
                "java", "-jar", "dcd.jar", "mount", "--generation", "1", "web1", "/srv/mnt/web1", "--foreground"));
    }

    @Test
    void aProcessServingAnotherMountpointOrNoneIsNotTheOwner() throws Exception {
        assertEquals(Optional.empty(), home(Map.of(), "java", "-jar", "dcd.jar", "--home", "/x", "mount-serve", "web1", "/srv/mnt/web2"));
        assertEquals(Optional.empty(), home(Map.of(), "vim", "/srv/mnt/web1/files/notes"));
    }
}
