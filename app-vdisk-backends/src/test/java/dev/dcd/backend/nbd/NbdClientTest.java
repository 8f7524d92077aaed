package dev.dcd.backend.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;

import static dev.dcd.backend.nbd.NbdConnectionTest.*;
import static org.junit.jupiter.api.Assertions.*;

/** The pool's promises against scripted peers: a dropped connection is replaced within the deadline, a silent one is cut at it. */
class NbdClientTest {
    @TempDir
    Path dir;

    private static final String READ_8_AT_0 = "25609513 0000 0000 0000000000000001 0000000000000000 00000008";

    private NbdClient client(Deque<ScriptedPeer> peers, Duration deadline) throws IOException {
        NbdConfig config = NbdConfig.builder().connections(1).deadline(deadline).baseDelay(Duration.ofMillis(1)).build();
        return NbdClient.open(NbdAddress.unix(dir.resolve("unused.sock"), "lun0"), config, System::nanoTime,
                timeout -> peers.removeFirst().connect());
    }

    private ScriptedPeer go() throws IOException {
        return new ScriptedPeer(dir).send(GREETING).expect(CLIENT_GO).send(INFO_EXPORT).send(INFO_BLOCK).send(ACK);
    }

    @Test
    void aConnectionDroppedBeforeTheReplyIsReplacedAndTheReadRetriedOnTheNewOne() throws Exception {
        Deque<ScriptedPeer> peers = new ArrayDeque<>();
        peers.add(go().expect(READ_8_AT_0));  // takes the request, then hangs up without a reply
        peers.add(go().expect(READ_8_AT_0).send("67446698 00000000 0000000000000001 | 1122334455667788"));
        try (NbdClient client = client(peers, Duration.ofSeconds(10))) {
            ByteBuffer dst = ByteBuffer.allocate(8);
            client.read(0, dst, client.deadline());
            assertEquals("1122334455667788", java.util.HexFormat.of().formatHex(dst.array()));
            assertEquals(2, client.connectionsOpened());
            assertEquals(1, client.retries());
        }
    }

    @Test
    void aServerThatStopsAnsweringIsCutAtTheDeadlineWithOneClearLine() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Deque<ScriptedPeer> peers = new ArrayDeque<>();
        peers.add(go().expect(READ_8_AT_0).hold(release));
        try (NbdClient client = client(peers, Duration.ofMillis(600))) {
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> client.read(0, ByteBuffer.allocate(8), client.deadline()));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(millis >= 500 && millis < 3000, millis + " ms");
            assertTrue(e.getMessage().startsWith("unix:" + dir.resolve("unused.sock") + " export 'lun0': read of 8 bytes at 0 failed after "),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("no answer within the deadline") || e.getMessage().contains("attempt(s)"),
                    e.getMessage());
        } finally {
            release.countDown();
        }
    }

    /** The probe {@code dcd backend add} makes: a long deadline, a short connect timeout. */
    private static NbdConfig probeConfig() {
        return NbdConfig.builder().deadline(Duration.ofSeconds(30)).connectTimeout(Duration.ofMillis(300))
                .baseDelay(Duration.ofMillis(1)).build();
    }

    @Test
    void aProbeOfARefusingServerFailsAtTheFirstAttemptNotAtTheDeadline() {
        java.util.concurrent.atomic.AtomicInteger attempts = new java.util.concurrent.atomic.AtomicInteger();
        java.net.ConnectException refused = new java.net.ConnectException("Connection refused");
        java.net.ConnectException e = assertThrows(java.net.ConnectException.class, () -> NbdClient.probe(
                NbdAddress.unix(dir.resolve("unused.sock"), "lun0"), probeConfig(), System::nanoTime, timeout -> {
                    attempts.incrementAndGet();
                    throw refused;
                }));
        assertSame(refused, e);
        assertEquals(1, attempts.get(), "no retry");
    }

    @Test
    void aProbeOfAServerThatTakesTheConnectionButNeverGreetsEndsAtTheConnectTimeout() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (ScriptedPeer silent = new ScriptedPeer(dir).hold(release)) {
            long start = System.nanoTime();
            java.net.SocketTimeoutException e = assertThrows(java.net.SocketTimeoutException.class, () -> NbdClient.probe(
                    NbdAddress.unix(dir.resolve("unused.sock"), "lun0"), probeConfig(), System::nanoTime,
                    timeout -> silent.connect()));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(e.getMessage().matches("the handshake did not finish within (29\\d|300) ms"), e.getMessage());
            assertTrue(millis < 10_000, "bounded by the connect timeout, not the 30 s deadline: " + millis + " ms");
        } finally {
            release.countDown();
        }
    }

    @Test
    void aProbeOfAWorkingServerHandshakesOnceAndLeaves() throws Exception {
        try (ScriptedPeer peer = go()) {
            NbdClient.probe(NbdAddress.unix(dir.resolve("unused.sock"), "lun0"), probeConfig(), System::nanoTime,
                    timeout -> peer.connect());
            String[] sentAgainstWanted = peer.finish();
            assertEquals(sentAgainstWanted[0], sentAgainstWanted[1]);
        }
    }

    @Test
    void anErrorTheServerAnswersIsNotRetriedUnlessItMayPass() throws Exception {
        Deque<ScriptedPeer> peers = new ArrayDeque<>();
        peers.add(go().expect(READ_8_AT_0).send("67446698 00000016 0000000000000001"));
        try (NbdClient client = client(peers, Duration.ofSeconds(10))) {
            NbdException e = assertThrows(NbdException.class, () -> client.read(0, ByteBuffer.allocate(8), client.deadline()));
            assertTrue(e.getMessage().endsWith("EINVAL (invalid argument)"), e.getMessage());
            assertEquals(0, client.retries());
            assertEquals(1, client.connectionsOpened());
        }
    }

    private static NbdClient pipelined(ReplyingPeer peer, int connections, int pipeline, Duration deadline)
            throws IOException {
        NbdConfig config = NbdConfig.builder().connections(connections).pipeline(pipeline).deadline(deadline)
                .baseDelay(Duration.ofMillis(1)).build();
        return NbdClient.open(NbdAddress.unix(java.nio.file.Path.of("/unused.sock"), "lun0"), config, System::nanoTime,
                timeout -> peer.connect());
    }

    /** {@code threads} reads of 4 KiB at once, each at its own offset; returns each thread's failure or null. */
    private static java.util.List<Throwable> readAtOnce(NbdClient client, int threads) throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            java.util.List<java.util.concurrent.Future<?>> reads = new java.util.ArrayList<>();
            for (int i = 0; i < threads; i++) {
                long offset = 4096L * (7 * i + 3);
                reads.add(pool.submit(() -> {
                    ByteBuffer dst = ByteBuffer.allocate(4096);
                    client.read(offset, dst, client.deadline());
                    for (int b = 0; b < 4096; b++) {
                        assertEquals(ReplyingPeer.byteAt(offset + b), dst.get(b), "byte " + b + " of the read at " + offset);
                    }
                    return null;
                }));
            }
            java.util.List<Throwable> failures = new java.util.ArrayList<>();
            for (java.util.concurrent.Future<?> f : reads) {
                try {
                    f.get(20, java.util.concurrent.TimeUnit.SECONDS);
                    failures.add(null);
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add(e.getCause());
                }
            }
            return failures;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void requestsArePipelinedOnOneConnectionAndEachReplyIsMatchedToItsRequestByHandle() throws Exception {
        // The server answers only once it holds four requests, and then last first: without pipelining the first
        // read would wait for an answer that never comes; with replies matched in order, every read would get
        // another's bytes.
        try (ReplyingPeer peer = new ReplyingPeer(dir, java.util.List.of(ReplyingPeer.batchesReversed(4)));
             NbdClient client = pipelined(peer, 1, 4, Duration.ofSeconds(15))) {
            assertEquals(java.util.Arrays.asList(null, null, null, null), readAtOnce(client, 4));
            assertEquals(1, client.connectionsOpened(), "one connection carried all four");
            assertEquals(4, peer.mostHeld.get(), "four requests in flight on it at once");
            assertEquals(0, client.retries());
        }
    }

    @Test
    void aDroppedConnectionFailsEveryRequestOnItAndEachIsRetriedOnAFreshOneWithinTheDeadline() throws Exception {
        // The connection open() made takes the three reads, then hangs up without answering; the next one answers.
        try (ReplyingPeer peer = new ReplyingPeer(dir, java.util.List.of(ReplyingPeer.dropAfter(3), ReplyingPeer.prompt()));
             NbdClient client = pipelined(peer, 1, 3, Duration.ofSeconds(15))) {
            assertEquals(java.util.Arrays.asList(null, null, null), readAtOnce(client, 3));
            assertEquals(3, peer.mostHeld.get(), "all three were in flight on the first connection when it dropped");
            assertEquals(2, client.connectionsOpened(), "one fresh connection took the three retries");
            assertEquals(3, client.retries(), "each read failed once and was tried again");
        }
    }
}
