package dev.dcd.tests.s3;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.filter.StatsSnapshot;
import dev.dcd.tests.support.DirectReads;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A FUSE mount that started with only local apps, and so with no shared cache and no readahead, meets
 * {@code catalog move} of its app to S3 (S3Proxy): it opens the shared cache when it switches, reads the app through
 * it and readahead from then on, and {@code dcd stats} shows both. The proof that the moved app's reads are cached:
 * with S3Proxy stopped and the local copy deleted by the move, every file still reads byte for byte. Files are read
 * with O_DIRECT, so each read reaches the serving process (a dcd mount otherwise keeps file pages in the kernel's
 * cache). Needs root (FUSE).
 */
class S3MoveMountIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BUCKET = "dcd-move";
    private static final String BACKEND = "s3main";

    @TempDir
    static Path dir;
    private static S3ProxyServer server;

    @BeforeAll
    static void startS3() throws IOException {
        server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
        server.createBucket(BUCKET);
    }

    @AfterAll
    static void stopS3() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aMountOfLocalAppsSwitchesOnTheSharedCacheAndReadaheadWhenItsAppMovesToS3() throws Exception {
        Path home = dir.resolve("home");
        DcdJar dcd = new DcdJar(home, server, dir.resolve("io"));
        Path app = Files.createDirectories(dir.resolve("src/web-1.0"));
        Map<String, String> expected = S3Home.writeRandomFiles(app, 16,
                new String[][] {{"one.bin", "3"}, {"sub/two.bin", "5"}, {"sub/three.txt", "0"}});
        dcd.ok("catalog", "import", app.toString());
        dcd.ok("vm", "create", "web", "--size", "128M");
        dcd.ok("vm", "assign", "web", "web@1.0");
        dcd.ok("disk", "build", "web");
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        dcd.ok("mount", "web", mnt.toString());
        try {
            DirectReads.assertEveryFile(mnt, expected, "from local");
            JsonNode before = stats(dcd);
            assertNull(before.get("cache"), "a mount of local apps has no shared cache: " + before);
            assertEquals(0, before.path("readahead").path("prefetches").asLong(), "nor readahead for them: " + before);

            // The backend is added after the mount started: the mount finds it when asked to switch.
            dcd.ok("backend", "add", BACKEND, "s3://" + BUCKET + "/apps?endpoint=" + server.endpoint()
                    + "&region=us-east-1&path-style=true&deadline-ms=15000");
            DcdJar.Result moved = dcd.run("catalog", "move", "web", "--to", BACKEND);
            assertEquals(0, moved.code(), moved.toString());
            assertTrue(moved.out().contains("switched: mount of VM web; source copy deleted"), moved.toString());

            JsonNode switched = stats(dcd);
            assertEquals(Map.of("web@1.0", BACKEND), disk(switched).serving());
            assertTrue(switched.has("cache"), "the switch opened the shared cache: " + switched);
            DirectReads.assertEveryFile(mnt, expected, "from S3, through the cache");
            JsonNode read = stats(dcd);
            assertTrue(read.path("cache").path("misses").asLong() > 0, "the first reads fetched from S3: " + read);
            assertTrue(read.path("readahead").path("prefetches").asLong() > 0,
                    "readahead prefetched the moved app's next chunks: " + read);
            assertTrue(backendReads(read, BACKEND) > 0, "reads are counted for S3: " + read);
            String table = dcd.ok("stats", "web");
            assertTrue(table.contains("cache: ") && table.contains("readahead: "), table);

            server.stop();
            try {
                DirectReads.assertEveryFile(mnt, expected, "with S3 down and the local copy deleted: from the cache");
            } finally {
                server.restart();
            }
            JsonNode cached = stats(dcd);
            assertTrue(cached.path("cache").path("hits").asLong() > read.path("cache").path("hits").asLong(),
                    "the reads were cache hits: " + cached);
            assertEquals(backendReads(read, "local"), backendReads(cached, "local"),
                    "the old backend's counters stopped growing");
        } finally {
            DcdJar.Result umount = dcd.run("umount", mnt.toString());
            if (umount.code() != 0) {
                new ProcessBuilder("fusermount", "-u", "-z", mnt.toString()).inheritIO().start().waitFor(20, TimeUnit.SECONDS);
            }
            assertEquals(0, umount.code(), umount.toString());
        }
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(" " + mnt + " "), "unmounted");
    }

    private static JsonNode stats(DcdJar dcd) throws Exception {
        return JSON.readTree(dcd.ok("--json", "stats", "web")).get("web");
    }

    private static StatsSnapshot disk(JsonNode stats) {
        return StatsSnapshot.fromJson(stats.get("disk").toString());
    }

    private static long backendReads(JsonNode stats, String backend) {
        return disk(stats).backends().stream().filter(g -> g.name().equals(backend))
                .mapToLong(StatsSnapshot.GroupStats::reads).sum();
    }
}
