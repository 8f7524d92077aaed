package dev.dcd.tests.s3;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.tests.net.LatencyProxy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Start-up prefetch lists (issue 19, docs/prefetch.md) through real mounts of {@code dcd.jar} against S3Proxy, which
 * sits behind a {@link LatencyProxy} so every request pays a delay as over a real network:
 *
 * <ol>
 * <li>a first mount that reads an app's start-up files records a list at unmount ({@code catalog show}, {@code
 *     catalog prefetch show});</li>
 * <li>a later mount of another VM with the app, from an empty cache, replays the list into the cache before the guest
 *     reads: once the replay is done S3 is stopped, and every start-up file still reads right through the mount;</li>
 * <li>while a long replay is running on a narrow link, a guest read of a file not on the list returns before the
 *     replay ends (demand reads go first);</li>
 * <li>a VM with another version of the app never uses the first version's list: it records its own.</li>
 * </ol>
 * Needs root (FUSE).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class S3PrefetchIT {
    private static final String BUCKET = "dcd-prefetch";
    private static final String BACKEND = "s3far";
    private static final Duration NOT_HUNG = Duration.ofSeconds(120);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static S3ProxyServer server;
    private static LatencyProxy proxy;
    private static DcdJar dcd;
    private static Path home;
    /** Start-up files (read by the first VM), then files nobody reads at start. */
    private static final Map<String, String> startFiles = new LinkedHashMap<>();
    private static final Map<String, String> otherFiles = new LinkedHashMap<>();

    @BeforeAll
    static void importTwoVersionsToS3() throws Exception {
        server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
        server.createBucket(BUCKET);
        proxy = LatencyProxy.builder().target(server.port()).delay(Duration.ofMillis(5)).start();
        home = dir.resolve("home");
        dcd = new DcdJar(home, server, dir.resolve("io"));
        Random random = new Random(19);
        Path v1 = Files.createDirectories(dir.resolve("src/web-1.0"));
        Path v2 = Files.createDirectories(dir.resolve("src/web-2.0"));
        for (int i = 0; i < 24; i++) {
            byte[] bytes = new byte[20_000 + random.nextInt(120_000)];
            random.nextBytes(bytes);
            String name = "lib/mod" + i + ".py";
            write(v1, name, bytes);
            startFiles.put(name, S3Home.sha256(v1.resolve(name)));
            bytes[0] ^= 1; // version 2: every file differs
            write(v2, name, bytes);
        }
        for (int i = 0; i < 3; i++) {
            byte[] bytes = new byte[8 * 1024 * 1024 + 4321];
            random.nextBytes(bytes);
            String name = "data/blob" + i;
            write(v1, name, bytes);
            otherFiles.put(name, S3Home.sha256(v1.resolve(name)));
            write(v2, name, bytes);
        }
        dcd.ok("backend", "add", BACKEND, "s3://" + BUCKET + "/apps?endpoint=" + proxy.httpEndpoint()
                + "&region=us-east-1&path-style=true&deadline-ms=20000");
        dcd.ok("catalog", "import", v1.toString(), "--backend", BACKEND);
        dcd.ok("catalog", "import", v2.toString(), "--backend", BACKEND);
        for (String vm : List.of("first", "second", "third", "newer")) {
            dcd.ok("vm", "create", vm, "--size", "128M");
            dcd.ok("vm", "assign", vm, vm.equals("newer") ? "web@2.0" : "web@1.0");
            dcd.ok("disk", "build", vm);
        }
    }

    private static void write(Path root, String name, byte[] bytes) throws IOException {
        Path file = root.resolve(name);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** Mounts, runs {@code body} with the mountpoint, unmounts (which also stores a recorded list). */
    private static void mounted(String vm, MountBody body) throws Exception {
        Path mnt = Files.createDirectories(dir.resolve("mnt-" + vm));
        DcdJar.Result mount = dcd.run("mount", vm, mnt.toString());
        try {
            assertEquals(0, mount.code(), mount.toString());
            assertTrue(mount.out().startsWith("mounted " + vm + " at " + mnt), mount.toString());
            assertEquals("", mount.err(), mount.toString());
            body.run(mnt);
        } finally {
            DcdJar.Result umount = dcd.run("umount", mnt.toString());
            if (umount.code() != 0) {
                new ProcessBuilder("fusermount", "-u", "-z", mnt.toString()).inheritIO().start().waitFor(20, TimeUnit.SECONDS);
            }
            assertEquals(0, umount.code(), umount.toString());
        }
    }

    @FunctionalInterface
    private interface MountBody {
        void run(Path mnt) throws Exception;
    }

    /** Empties the shared cache (no mount is running), so the next mount starts cold. */
    private static void dropDcdCache() throws IOException {
        Path cache = home.resolve("cache");
        if (Files.exists(cache)) {
            try (Stream<Path> all = Files.walk(cache)) {
                for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    private static JsonNode prefetch(Path mnt) throws IOException {
        return JSON.readTree(Files.readString(mnt.resolve("stats.json"))).path("prefetch");
    }

    /** Polls the mount's stats until the replay has dealt with every listed chunk. */
    private static JsonNode awaitReplay(Path mnt) throws Exception {
        long deadline = System.nanoTime() + NOT_HUNG.toNanos();
        while (true) {
            JsonNode p = prefetch(mnt);
            if (p.path("listed").asLong() > 0 && p.path("done").asLong() == p.path("listed").asLong()) {
                return p;
            }
            assertTrue(p.path("failed").asLong() == 0, "the replay failed: " + p);
            assertTrue(System.nanoTime() < deadline, "the replay did not end in " + NOT_HUNG + ": " + p);
            Thread.sleep(50); // polling a condition with a deadline
        }
    }

    private static int listedChunks(String spec) throws Exception {
        String shown = dcd.ok("catalog", "show", spec);
        String line = shown.lines().filter(l -> l.startsWith("prefetch list: ")).findFirst().orElseThrow();
        if (line.equals("prefetch list: none")) {
            return 0;
        }
        return Integer.parseInt(line.substring("prefetch list: ".length()).split(" ")[0]);
    }

    @Test
    @Order(1)
    void aFirstMountRecordsTheStartUpReadsAtUnmount() throws Exception {
        assertEquals(0, listedChunks("web@1.0"));
        dropDcdCache();
        mounted("first", mnt -> {
            for (Map.Entry<String, String> f : startFiles.entrySet()) {
                assertEquals(f.getValue(), S3Home.sha256(mnt.resolve("files").resolve(f.getKey())), f.getKey());
            }
            JsonNode p = prefetch(mnt);
            assertEquals(1, p.path("recording").asInt(), p.toString());
            assertTrue(p.path("recorded").asLong() >= startFiles.size(), p.toString());
        });
        int chunks = listedChunks("web@1.0");
        // Each start-up file is 20-140 KB: one to four chunks each (files are not chunk-aligned), and nothing of the 24 MiB of blobs.
        assertTrue(chunks >= startFiles.size() && chunks <= 4 * startFiles.size(), "listed " + chunks);
        String list = dcd.ok("catalog", "prefetch", "show", "web@1.0");
        assertTrue(list.contains("prefetch list: " + chunks + " chunks"), list);
        assertEquals(0, listedChunks("web@2.0"), "the other version has no list");
    }

    @Test
    @Order(2)
    void aLaterMountOfAnotherVmReplaysTheListIntoTheCacheBeforeTheGuestReads() throws Exception {
        int chunks = listedChunks("web@1.0");
        assertTrue(chunks > 0, "test 1 recorded a list");
        dropDcdCache();
        mounted("second", mnt -> {
            JsonNode p = awaitReplay(mnt);
            assertEquals(chunks, p.path("listed").asLong());
            assertEquals(chunks, p.path("fetched").asLong(), "every listed chunk came from S3 into the empty cache");
            server.stop();
            try {
                for (Map.Entry<String, String> f : startFiles.entrySet()) {
                    assertEquals(f.getValue(), S3Home.sha256(mnt.resolve("files").resolve(f.getKey())),
                            f.getKey() + " reads with S3 stopped: its chunks were replayed into the cache");
                }
            } finally {
                server.restart();
            }
            JsonNode after = prefetch(mnt);
            assertEquals(chunks, after.path("hits").asLong(), "every listed chunk's first read was a hit: " + after);
            assertEquals(0, after.path("recording").asInt(), "an app with a list is not recorded again");
            String stats = dcd.ok("stats", "second");
            assertTrue(stats.contains("prefetch: " + chunks + " of " + chunks + " listed chunks replayed"), stats);
        });
        assertEquals(chunks, listedChunks("web@1.0"), "the list is unchanged");
    }

    @Test
    @Order(3)
    void aGuestReadDuringALongReplayDoesNotWaitForIt() throws Exception {
        // A long list: clear it, record a mount that reads the blobs too, then replay it over a narrow link.
        dcd.ok("catalog", "prefetch", "clear", "web@1.0");
        dropDcdCache();
        mounted("first", mnt -> {
            for (String name : List.of("data/blob0", "data/blob1")) {
                assertEquals(otherFiles.get(name), S3Home.sha256(mnt.resolve("files").resolve(name)), name);
            }
        });
        int chunks = listedChunks("web@1.0");
        assertTrue(chunks >= 2 * 128, "both blobs are listed: " + chunks);
        dropDcdCache();
        proxy.bandwidth(512 * 1024); // 512 KiB/s per connection: the 16 MiB replay takes several seconds
        try {
            mounted("third", mnt -> {
                String name = "lib/mod3.py"; // not on the list now
                assertEquals(startFiles.get(name), S3Home.sha256(mnt.resolve("files").resolve(name)));
                JsonNode p = prefetch(mnt);
                assertTrue(p.path("done").asLong() < p.path("listed").asLong(),
                        "the guest's read returned while the replay was still running: " + p);
                assertTrue(p.path("replaying").asInt() == 1, p.toString());
            });
        } finally {
            proxy.bandwidth(0);
        }
    }

    @Test
    @Order(4)
    void anotherVersionOfTheAppNeverUsesTheList() throws Exception {
        int v1 = listedChunks("web@1.0");
        assertTrue(v1 > 0);
        assertEquals(0, listedChunks("web@2.0"));
        dropDcdCache();
        mounted("newer", mnt -> {
            JsonNode p = prefetch(mnt);
            assertEquals(0, p.path("replaying").asInt(), "web@2.0 has no list of its own: " + p);
            assertEquals(0, p.path("listed").asLong());
            List<String> some = new ArrayList<>(startFiles.keySet()).subList(0, 4);
            for (String name : some) {
                Files.readAllBytes(mnt.resolve("files").resolve(name));
            }
            assertEquals(1, prefetch(mnt).path("recording").asInt());
        });
        int v2 = listedChunks("web@2.0");
        assertTrue(v2 >= 4 && v2 <= 16, "web@2.0 recorded its own list: " + v2);
        assertEquals(v1, listedChunks("web@1.0"), "web@1.0's list is untouched");
    }

    @Test
    @Order(5)
    void aRecordingByCommandOnALiveMountReplacesTheListWithTheReadsOfItsWindow() throws Exception {
        int before = listedChunks("web@1.0");
        assertTrue(before >= 2 * 128, "test 3 left the long list (both blobs): " + before);
        DcdJar.Result notMounted = dcd.run("catalog", "prefetch", "record", "web@1.0", "--vm", "second", "--seconds", "2");
        assertEquals(1, notMounted.code(), notMounted.toString());
        assertEquals("dcd: VM 'second' is neither mounted nor served here ('dcd mount second' first): a recording needs "
                + "its running chain", notMounted.err().strip(), notMounted.toString());
        java.util.concurrent.ExecutorService background = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            mounted("second", mnt -> {
                java.util.concurrent.Future<DcdJar.Result> recording = background.submit(() -> dcd.run(
                        "catalog", "prefetch", "record", "web@1.0", "--vm", "second", "--seconds", "4"));
                long deadline = System.nanoTime() + NOT_HUNG.toNanos();
                while (prefetch(mnt).path("recording").asInt() == 0) {
                    assertTrue(System.nanoTime() < deadline, "the recording did not start: " + prefetch(mnt));
                    assertTrue(!recording.isDone(), "the command ended early: " + (recording.isDone() ? recording.get() : ""));
                    Thread.sleep(50); // polling a condition with a deadline
                }
                for (String name : List.of("lib/mod9.py", "lib/mod2.py", "lib/mod17.py")) {
                    assertEquals(startFiles.get(name), S3Home.sha256(mnt.resolve("files").resolve(name)), name);
                }
                DcdJar.Result result = recording.get(NOT_HUNG.toSeconds(), TimeUnit.SECONDS);
                assertEquals(0, result.code(), result.toString());
                assertTrue(result.out().startsWith("stored the prefetch list of web@1.0 from VM second: "), result.toString());
                assertEquals("recording the reads of web@1.0 on VM second for 4 s; start it now", result.err().strip(),
                        result.toString());
            });
        } finally {
            background.shutdownNow();
        }
        int after = listedChunks("web@1.0");
        // Three files of 20-140 KB: one to four chunks each; none of the blobs the old list named.
        assertTrue(after >= 3 && after <= 12, "the new list holds the three files read in the window: " + after);
        String shown = dcd.ok("catalog", "prefetch", "show", "web@1.0");
        assertTrue(shown.contains("recorded over 4 s"), shown);
    }
}
