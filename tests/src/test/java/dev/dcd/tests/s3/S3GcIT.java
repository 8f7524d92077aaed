package dev.dcd.tests.s3;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reference invariant on a remote backend (a real S3Proxy): an app version removed while a kept generation
 * reads it is retired and its object stays in the bucket; {@code catalog gc} deletes the object from the bucket
 * only once the generation is discarded.
 */
class S3GcIT {
    private static final String BUCKET = "dcd-gc";

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
        DcdJar.Result r = new DcdJar(home, server, dir.resolve("io")).run(args);
        assertEquals(0, r.code(), "dcd " + String.join(" ", args) + ": " + r);
        return r;
    }

    @Test
    void gcDeletesARetiredObjectFromTheBucketOnlyOnceNoGenerationReadsIt() throws Exception {
        dcd("backend", "add", "s3", "s3://" + BUCKET + "/vdisks?endpoint=" + server.endpoint()
                + "&region=us-east-1&path-style=true");
        Path app = Files.createDirectories(dir.resolve("far-2.0/opt/far"));
        Files.writeString(app.resolve("far.txt"), "stored in a bucket\n");
        dcd("catalog", "import", app.getParent().getParent().toString(), "--backend", "s3");
        dcd("vm", "create", "web", "--size", "64M");
        dcd("vm", "assign", "web", "far");
        dcd("disk", "build", "web");
        dcd("vm", "unassign", "web", "far");

        DcdJar.Result rm = dcd("catalog", "rm", "far@2.0");
        assertTrue(rm.out().startsWith("retired far@2.0: ") && rm.out().contains(" stays on s3 while VM web generation 1 reads it"),
                rm.toString());
        assertTrue(dcd("backend", "check", "s3").out().endsWith(", 1 vdisk(s)\n"), "the object stays in the bucket");
        assertTrue(dcd("catalog", "gc").out().startsWith("kept vdisk "), "gc keeps what a generation reads");

        dcd("disk", "discard", "web", "1", "--force");
        DcdJar.Result gc = dcd("catalog", "gc");
        assertTrue(gc.out().matches("(?s)deleted vdisk [0-9a-f]{12} on s3 \\(far@2\\.0\\), .*reclaimed .* from 1 vdisk\\(s\\)\n"),
                gc.toString());
        assertTrue(dcd("backend", "check", "s3").out().endsWith(", 0 vdisk(s)\n"), "gone from the bucket");
    }
}
