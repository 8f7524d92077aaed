package dev.dcd.tests.s3;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The S3 backend through the real {@code dcd.jar} in its own process, credentials from the environment (the
 * AWS chain): what a user sees on stdout and stderr. Every command against S3 keeps stderr free of anything
 * but dcd's own one-line errors (no SLF4J notice from the AWS SDK, no stack trace, no secret).
 */
class S3CliIT {
    private static final String BUCKET = "dcd-cli";

    @TempDir
    static Path dir;
    private static S3ProxyServer server;
    private static Path home;

    @BeforeAll
    static void startS3Proxy() throws IOException {
        server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
        server.createBucket(BUCKET);
        home = dir.resolve("home");
    }

    @AfterAll
    static void stopS3Proxy() {
        if (server != null) {
            server.close();
        }
    }

    private static DcdJar.Result dcd(String... args) throws IOException, InterruptedException {
        return new DcdJar(home, server, dir.resolve("io")).run(args);
    }

    private static String uri() {
        return "s3://" + BUCKET + "/vdisks?endpoint=" + server.endpoint() + "&region=us-east-1&path-style=true"
                + "&deadline-ms=3000";
    }

    private static void assertNoSecret(DcdJar.Result r) {
        assertFalse(r.out().contains(server.credential()) || r.err().contains(server.credential()), r.toString());
    }

    @Test
    void backendCheckAgainstARunningS3ProxyIsOkWithLatencyAndStderrStaysEmpty() throws Exception {
        DcdJar.Result added = dcd("backend", "add", "up", uri());
        assertEquals(0, added.code(), added.toString());
        assertEquals("", added.err(), added.toString());

        Path app = Files.createDirectories(dir.resolve("hello-1.0/bin"));
        Files.writeString(app.resolve("hello"), "#!/bin/sh\necho hello\n");
        DcdJar.Result imported = dcd("catalog", "import", app.getParent().toString(), "--backend", "up");
        assertEquals(0, imported.code(), imported.toString());
        assertEquals("", imported.err(), "the first S3 use prints nothing on stderr (no SLF4J notice): " + imported);

        DcdJar.Result check = dcd("backend", "check", "up");
        assertEquals(0, check.code(), check.toString());
        assertEquals("", check.err(), check.toString());
        assertTrue(check.out().matches("(?s)up: ok, [0-9.]+ ms, .*bucket reachable \\(HeadBucket \\d+ ms\\).*"
                + "probe put/get ok; probe delete ok, 1 vdisk\\(s\\)\\n"), check.out());
        assertNoSecret(check);

        DcdJar.Result list = dcd("backend", "list");
        assertEquals(0, list.code(), list.toString());
        assertTrue(list.out().contains("up") && list.out().contains("s3://" + BUCKET), list.out());
        assertEquals("", list.err());
    }

    @Test
    void backendCheckAgainstAStoppedS3ProxyFailsInSecondsWithOneClearLine() throws Exception {
        DcdJar.Result added = dcd("backend", "add", "down", uri().replace("/vdisks?", "/other?"));
        assertEquals(0, added.code(), added.toString());
        server.stop();
        try {
            DcdJar.Result check = dcd("backend", "check", "down");
            assertEquals(1, check.code(), check.toString());
            assertTrue(check.out().startsWith("down: FAILED, "), check.toString());
            List<String> lines = check.err().lines().toList();
            assertEquals(1, lines.size(), "one line on stderr: " + check);
            assertTrue(lines.get(0).startsWith("dcd: backend 'down' failed its check: "), check.toString());
            assertTrue(lines.get(0).contains("bucket unreachable"), check.toString());
            assertTrue(lines.get(0).contains("Connection refused"), check.toString());
            assertTrue(check.millis() < 30_000, "reported in seconds: " + check);
            assertNoSecret(check);

            Path app = Files.createDirectories(dir.resolve("down-1.0"));
            Files.writeString(app.resolve("f"), "x");
            DcdJar.Result imported = dcd("catalog", "import", app.toString(), "--backend", "down");
            assertEquals(1, imported.code(), imported.toString());
            List<String> errLines = imported.err().lines().toList();
            assertEquals(1, errLines.size(), "one line on stderr: " + imported);
            assertTrue(errLines.get(0).startsWith("dcd: ") && errLines.get(0).contains("down"), imported.toString());
            assertNoSecret(imported);
        } finally {
            server.restart();
        }
        DcdJar.Result again = dcd("backend", "check", "down");
        assertEquals(0, again.code(), again.toString());
        assertEquals("", again.err(), again.toString());
    }
}
