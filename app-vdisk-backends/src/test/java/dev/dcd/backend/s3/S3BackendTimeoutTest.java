package dev.dcd.backend.s3;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.Backends;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.*;

/** A server that accepts connections and never answers must cost a deadline, not a hang. */
@Timeout(60)
class S3BackendTimeoutTest {
    private ServerSocket blackHole;
    private final List<Socket> accepted = new CopyOnWriteArrayList<>();
    private Thread acceptor;

    @BeforeEach
    void openBlackHole() throws IOException {
        blackHole = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(() -> {
            try {
                while (true) {
                    accepted.add(blackHole.accept());
                }
            } catch (IOException e) {
                // closed
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        System.setProperty("aws.accessKeyId", "UNITTESTKEYID");
        System.setProperty("aws.secretAccessKey", "unit-test-secret-value");
    }

    @AfterEach
    void closeBlackHole() throws IOException {
        blackHole.close();
        for (Socket s : accepted) {
            s.close();
        }
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
    }

    @Test
    void aServerThatNeverAnswersFailsTheCallWithinTheDeadline() throws Exception {
        URI uri = URI.create("s3://bucket/p?endpoint=http://127.0.0.1:" + blackHole.getLocalPort()
                + "&region=us-east-1&deadline-ms=1500&retries=5");
        try (Backend backend = Backends.open("blackhole", uri)) {
            long start = System.nanoTime();
            BackendException e = assertThrows(BackendException.class, () -> backend.stat(new ContentId("12".repeat(32))));
            long millis = (System.nanoTime() - start) / 1_000_000;
            // Bounded by the one deadline, not by attempts: 6 attempts of 1.5 s each would take 9 s. The slack above
            // the deadline is for a loaded machine (3.07 s seen at load 19), well short of a second attempt's end.
            assertTrue(millis < 1500 + 3500, "took " + millis + " ms");
            assertTrue(e.getMessage().contains("backend 'blackhole'"), e.getMessage());
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
            assertFalse(e.getMessage().contains("unit-test-secret-value") || e.getMessage().contains("UNITTESTKEYID"));
            assertFalse(Thread.currentThread().isInterrupted(), "the SDK's timeout interrupt does not leak");

            Backend.HealthReport report = backend.check();
            assertFalse(report.ok());
            assertTrue(report.detail().contains("unreachable"), report.detail());
        }
    }
}
