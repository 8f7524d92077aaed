package dev.dcd.backend.nfs;

import dev.dcd.backend.Backends;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

class NfsConfigTest {

    private static IllegalArgumentException rejected(String uri) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.validate(URI.create(uri)));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    @Test
    void theProviderIsFoundByScheme() {
        assertTrue(Backends.providers().containsKey("nfs"));
    }

    @Test
    void aFullUriGivesServerPortsDirectoryAndOptions() {
        NfsConfig c = NfsConfig.parse(URI.create("nfs://nas.example:2049/srv/apps/vdisks/?mount-port=20048&uid=0&gid=0"
                + "&deadline-ms=4500&read-parallelism=4"));
        assertEquals("nas.example", c.host());
        assertEquals(2049, c.nfsPort());
        assertEquals(20048, c.mountPort());
        assertEquals("/srv/apps/vdisks", c.dir(), "trailing slash dropped");
        assertEquals(0, c.uid().orElseThrow());
        assertEquals(0, c.gid().orElseThrow());
        assertEquals(Duration.ofMillis(4500), c.deadline());
        assertEquals(4, c.readParallelism());
        assertEquals("nfs://nas.example/srv/apps/vdisks?nfsport=2049&mountport=20048", c.libnfsUrl(),
                "both ports explicit: the portmapper is never asked");
    }

    @Test
    void withoutPortsTheDefaultsApplyAndLibnfsAsksThePortmapper() {
        NfsConfig c = NfsConfig.parse(URI.create("nfs://10.0.0.5/export"));
        assertEquals(0, c.nfsPort());
        assertEquals(0, c.mountPort());
        assertTrue(c.uid().isEmpty() && c.gid().isEmpty(), "libnfs's own default: the process's ids");
        assertEquals(Duration.ofSeconds(30), c.deadline());
        assertEquals(8, c.readParallelism());
        assertEquals("nfs://10.0.0.5/export", c.libnfsUrl());
    }

    @Test
    void libnfsTimeoutIsWholeSecondsAndNeverLongerThanTheDeadline() {
        assertEquals(1000, NfsConfig.parse(URI.create("nfs://h/e?deadline-ms=1000")).rpcTimeoutMillis());
        assertEquals(2000, NfsConfig.parse(URI.create("nfs://h/e?deadline-ms=2999")).rpcTimeoutMillis());
        assertEquals(30000, NfsConfig.parse(URI.create("nfs://h/e")).rpcTimeoutMillis());
    }

    @Test
    void badUrisAreRejectedWithOneLineThatSaysWhatIsExpected() {
        assertTrue(rejected("nfs:///export").getMessage().contains("needs a server"));
        assertTrue(rejected("nfs://host").getMessage().contains("EXPORT"));
        assertTrue(rejected("nfs://user@host/export").getMessage().contains("uid=N"));
        assertTrue(rejected("nfs://host/export?colour=blue").getMessage().contains("known: " + NfsConfig.KNOWN));
        assertTrue(rejected("nfs://host/export?deadline-ms=10").getMessage().contains("between 1000"));
        assertTrue(rejected("nfs://host/export?mount-port=x").getMessage().contains("whole number"));
        assertTrue(rejected("nfs://host/export?uid=1&uid=2").getMessage().contains("repeats"));
        assertTrue(rejected("nfs://host/a/../b").getMessage().contains("'..'"));
        assertTrue(rejected("nfs://host/export#frag").getMessage().contains("fragment"));
        assertTrue(rejected("nfs://host/export?mount-port=70000").getMessage().contains("between 1 and 65535"));
    }

    @Test
    void theDescriptionNamesServerDirectoryAndMountPort() {
        assertEquals("nfs://127.0.0.1:2049/srv/x (mount port 20048)",
                NfsConfig.parse(URI.create("nfs://127.0.0.1:2049/srv/x?mount-port=20048")).toString());
    }
}
