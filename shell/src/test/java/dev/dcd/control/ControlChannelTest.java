package dev.dcd.control;

import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The control channel between dcd commands and running servers, without a mount: a socket and a handler. */
class ControlChannelTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final ContentId USED = new ContentId("ab".repeat(32));
    private static final ContentId OTHER = new ContentId("cd".repeat(32));

    @TempDir
    Path home;

    /** A server that reads {@link #USED} and switches it to any backend but "down". */
    private static class Fake implements ControlServer.Handler {
        volatile String backend = "local";

        @Override
        public String status() {
            return "generation=1 apps=app@1:" + backend;
        }

        @Override
        public boolean resolve(ContentId id, String to) throws IOException {
            if (!id.equals(USED)) {
                return false;
            }
            if (to.equals("down")) {
                throw new IOException("backend down: connection refused");
            }
            backend = to;
            return true;
        }

        @Override
        public String readsFrom(ContentId id) {
            return id.equals(USED) ? backend : null;
        }

        /** Records {@link #USED} only: 7 chunks for a window of 5 s or more, nothing read in a shorter one. */
        @Override
        public int record(ContentId id, Duration window) throws IOException {
            if (!id.equals(USED)) {
                return -1;
            }
            if (backend.equals("local")) {
                throw new IOException("app@1 is not read through the shared cache");
            }
            return window.toSeconds() >= 5 ? 7 : 0;
        }
    }

    @Test
    void recordAnswersWithTheChunksStoredNothingOrUnusedAndChecksItsWindow() throws IOException {
        Fake fake = new Fake();
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "vm", fake)) {
            Path socket = server.path();
            assertEquals("error app@1 is not read through the shared cache",
                    ControlClient.request(socket, "record " + USED.hex() + " 30", TIMEOUT).line());
            fake.backend = "s3";
            assertEquals("ok recorded 7", ControlClient.request(socket, "record " + USED.hex() + " 30", TIMEOUT).line());
            assertEquals("ok nothing", ControlClient.request(socket, "record " + USED.hex() + " 2", TIMEOUT).line());
            assertEquals("ok unused", ControlClient.request(socket, "record " + OTHER.hex() + " 30", TIMEOUT).line());
            assertEquals("error the recording window must be 1 to 3600 seconds, not '0'",
                    ControlClient.request(socket, "record " + USED.hex() + " 0", TIMEOUT).line());
            assertEquals("error the recording window must be 1 to 3600 seconds, not 'soon'",
                    ControlClient.request(socket, "record " + USED.hex() + " soon", TIMEOUT).line());
            assertEquals("error usage: record CONTENT-ID SECONDS", ControlClient.request(socket, "record", TIMEOUT).line());
            assertEquals("error not a content id: xyz", ControlClient.request(socket, "record xyz 5", TIMEOUT).line());
        }
    }

    @Test
    void answersPingStatusAndResolveOnAnOwnerOnlySocket() throws IOException {
        Fake fake = new Fake();
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "web 1", fake)) {
            Path socket = ControlSockets.socket(home, ControlSockets.MOUNT, "web 1");
            assertEquals(socket, server.path());
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(ControlSockets.dir(home))));
            assertEquals(List.of(new ControlSockets.Endpoint(ControlSockets.MOUNT, "web 1", socket)),
                    ControlSockets.list(home), "the VM name is recovered from the socket's file name");

            assertEquals("ok pong", ControlClient.request(socket, "ping", TIMEOUT).line());
            assertEquals("ok generation=1 apps=app@1:local", ControlClient.request(socket, "status", TIMEOUT).line());

            ControlClient.Answer switched = ControlClient.request(socket, "resolve " + USED.hex() + " s3", TIMEOUT);
            assertTrue(switched.ok());
            assertEquals("ok switched", switched.line());
            assertEquals("s3", fake.backend);
            assertEquals("ok unused", ControlClient.request(socket, "resolve " + OTHER.hex() + " s3", TIMEOUT).line());

            ControlClient.Answer failed = ControlClient.request(socket, "resolve " + USED.hex() + " down", TIMEOUT);
            assertFalse(failed.ok());
            assertEquals("backend down: connection refused", failed.detail());
            assertEquals("s3", fake.backend, "a failed switch leaves the backend that served");
        }
        assertFalse(Files.exists(ControlSockets.socket(home, ControlSockets.MOUNT, "web 1")), "closing removes the socket");
    }

    @Test
    void readsAnswersTheBackendAVdiskIsReadFromNowOrUnused() throws IOException {
        Fake fake = new Fake();
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "vm", fake)) {
            Path socket = server.path();
            assertEquals("ok from local", ControlClient.request(socket, "reads " + USED.hex(), TIMEOUT).line());
            ControlClient.request(socket, "resolve " + USED.hex() + " s3", TIMEOUT);
            assertEquals("ok from s3", ControlClient.request(socket, "reads " + USED.hex(), TIMEOUT).line(),
                    "the answer follows a switch");
            assertEquals("ok unused", ControlClient.request(socket, "reads " + OTHER.hex(), TIMEOUT).line());
            assertEquals("error usage: reads CONTENT-ID", ControlClient.request(socket, "reads", TIMEOUT).line());
            assertEquals("error not a content id: xyz", ControlClient.request(socket, "reads xyz", TIMEOUT).line());
        }
        // A handler that cannot say (an older server's, say) answers error: the asker must assume it may read any copy.
        ControlServer.Handler mute = new ControlServer.Handler() {
            @Override
            public String status() {
                return "mute";
            }

            @Override
            public boolean resolve(ContentId id, String backend) {
                return false;
            }
        };
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "mute", mute)) {
            assertEquals("error this server cannot say which backend it reads a vdisk from",
                    ControlClient.request(server.path(), "reads " + USED.hex(), TIMEOUT).line());
        }
    }

    @Test
    void badRequestsGetOneErrorLineAndTheServerKeepsAnswering() throws IOException {
        try (ControlServer server = ControlServer.start(home, ControlSockets.SERVE, "vm", new Fake())) {
            Path socket = server.path();
            assertEquals("error unknown request 'reboot' (ping, status, resolve, reads, record)",
                    ControlClient.request(socket, "reboot now", TIMEOUT).line());
            assertEquals("error usage: resolve CONTENT-ID BACKEND", ControlClient.request(socket, "resolve", TIMEOUT).line());
            assertEquals("error not a content id: xyz", ControlClient.request(socket, "resolve xyz s3", TIMEOUT).line());
            assertThrows(IOException.class, () -> ControlClient.request(socket, "x".repeat(5000), TIMEOUT),
                    "an overlong line ends that connection unanswered");
            assertEquals("ok pong", ControlClient.request(socket, "ping", TIMEOUT).line());
        }
    }

    @Test
    void aServerThatDoesNotAnswerInTimeFailsTheRequestWithinTheTimeout() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        ControlServer.Handler stuck = new Fake() {
            @Override
            public boolean resolve(ContentId id, String to) throws IOException {
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                return true;
            }
        };
        try (ControlServer server = ControlServer.start(home, ControlSockets.MOUNT, "slow", stuck)) {
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class,
                    () -> ControlClient.request(server.path(), "resolve " + USED.hex() + " s3", Duration.ofMillis(300)));
            assertEquals("no answer within 300 ms", e.getMessage());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30), "bounded, not hung");
            assertEquals("ok pong", ControlClient.request(server.path(), "ping", TIMEOUT).line(),
                    "a stuck request does not block others");
        } finally {
            release.countDown();
        }
    }

    @Test
    void aSocketLeftByADeadServerIsReplacedAndALiveOneIsNot() throws IOException {
        Files.createDirectories(ControlSockets.dir(home));
        Path socket = ControlSockets.socket(home, ControlSockets.MOUNT, "vm");
        Files.writeString(socket, "left over"); // no one listens on it
        assertThrows(IOException.class, () -> ControlClient.request(socket, "ping", TIMEOUT));
        try (ControlServer first = ControlServer.start(home, ControlSockets.MOUNT, "vm", new Fake())) {
            assertEquals("ok pong", ControlClient.request(socket, "ping", TIMEOUT).line());
            IOException e = assertThrows(IOException.class,
                    () -> ControlServer.start(home, ControlSockets.MOUNT, "vm", new Fake()));
            assertTrue(e.getMessage().contains("already listens"), e.getMessage());
            assertEquals("ok pong", ControlClient.request(socket, "ping", TIMEOUT).line(), "the first server still answers");
        }
        IOException gone = assertThrows(IOException.class, () -> ControlClient.request(socket, "ping", TIMEOUT));
        assertNotNull(gone.getMessage());
    }

    @Test
    void aHomeTooDeepForASocketPathGetsAnOwnerOnlyShortSocketListedAndAskedUnderTheUsualName() throws IOException {
        Path deep = home.resolve("d".repeat(120));
        Path name = ControlSockets.socket(deep, ControlSockets.SERVE, "vm one");
        assertFalse(ControlSockets.fits(name), "longer than a socket path may be: " + name);
        try (ControlServer server = ControlServer.start(deep, ControlSockets.SERVE, "vm one", new Fake())) {
            assertTrue(ControlSockets.fits(server.path()), server.path().toString());
            assertTrue(Files.isSymbolicLink(name), "the usual name links to it");
            assertEquals(PosixFilePermissions.fromString("rwx------"),
                    Files.getPosixFilePermissions(server.path().getParent()), "only the owner may enter");
            assertEquals(PosixFilePermissions.fromString("rw-------"), Files.getPosixFilePermissions(server.path()));
            assertEquals(List.of(new ControlSockets.Endpoint(ControlSockets.SERVE, "vm one", name)),
                    ControlSockets.list(deep));
            assertEquals("ok from local", ControlClient.request(name, "reads " + USED.hex(), TIMEOUT).line());
            IOException twice = assertThrows(IOException.class,
                    () -> ControlServer.start(deep, ControlSockets.SERVE, "vm one", new Fake()));
            assertTrue(twice.getMessage().contains("already listens"), twice.getMessage());
            assertEquals("ok pong", ControlClient.request(name, "ping", TIMEOUT).line(), "the first server still answers");
            Path shortPath = server.path();
            server.close();
            assertFalse(Files.exists(shortPath, java.nio.file.LinkOption.NOFOLLOW_LINKS));
            assertFalse(Files.exists(name, java.nio.file.LinkOption.NOFOLLOW_LINKS), "both go when it stops");
        }
    }

    @Test
    void aReaderIsRegisteredUntilClosedAndOnlyWhileItsProcessLives() throws IOException {
        long pid = ProcessHandle.current().pid();
        try (java.io.Closeable reader = ControlSockets.registerReader(home, ControlSockets.MOUNT, "web.1")) {
            List<ControlSockets.Reader> live = ControlSockets.liveReaders(home);
            assertEquals(1, live.size(), live.toString());
            assertEquals(ControlSockets.MOUNT, live.get(0).kind());
            assertEquals("web.1", live.get(0).vm());
            assertEquals(pid, live.get(0).pid());
        }
        assertEquals(List.of(), ControlSockets.liveReaders(home), "closed: gone");
        Path dead = ControlSockets.dir(home).resolve("serve-vm.999999999-5" + ControlSockets.READER_SUFFIX);
        Files.write(dead, new byte[0]);
        Path reused = ControlSockets.dir(home).resolve("serve-vm." + pid + "-5" + ControlSockets.READER_SUFFIX);
        Files.write(reused, new byte[0]);
        assertEquals(List.of(), ControlSockets.liveReaders(home), "a dead pid, or a live pid that started later, reads nothing");
        try (java.io.Closeable reader = ControlSockets.registerReader(home, ControlSockets.SERVE, "vm")) {
            assertFalse(Files.exists(dead) || Files.exists(reused), "registering sweeps the files of ended processes");
        }
    }
}
