package dev.dcd.tests.s3;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The S3 issue through a real FUSE mount: {@code dcd mount} (dcd.jar in its own process, credentials in its
 * environment) serves a VM whose app lives on S3Proxy; files read through {@code MOUNTPOINT/files/} match their
 * sources; with S3Proxy stopped, files already in dcd's cache still read (the kernel's page cache is dropped
 * first, so the bytes really come through the mount), the others fail with EIO and the serving log says which
 * app and backend failed; once S3Proxy is back they read. Needs root (FUSE, drop_caches).
 */
class S3MountIT {
    private static final String BUCKET = "dcd-mount";
    private static final String BACKEND = "s3main";

    @TempDir
    static Path dir;
    private static S3ProxyServer server;
    private static DcdJar dcd;
    private static Path home;
    private static final Map<String, String> expected = new LinkedHashMap<>();

    @BeforeAll
    static void importToS3AndBuild() throws Exception {
        server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
        server.createBucket(BUCKET);
        home = dir.resolve("home");
        dcd = new DcdJar(home, server, dir.resolve("io"));
        Path app = Files.createDirectories(dir.resolve("src/web-1.0"));
        // Warm files first, then 48 MiB nobody reads (more than readahead can reach), then the cold ones.
        String[][] files = {{"a/warm1", "1"}, {"a/warm2", "2"}, {"b/gap1", "16"}, {"b/gap2", "16"}, {"b/gap3", "16"},
                {"c/cold1", "2"}, {"c/cold2", "3"}};
        expected.putAll(S3Home.writeRandomFiles(app, 7, files));
        dcd.ok("backend", "add", BACKEND, "s3://" + BUCKET + "/apps?endpoint=" + server.endpoint()
                + "&region=us-east-1&path-style=true&deadline-ms=3000");
        dcd.ok("catalog", "import", app.toString(), "--backend", BACKEND);
        dcd.ok("vm", "create", "web", "--size", "128M");
        dcd.ok("vm", "assign", "web", "web@1.0");
        dcd.ok("disk", "build", "web");
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static String sha(Path file) throws IOException {
        return S3Home.sha256(file);
    }

    private static void dropPageCache() throws IOException, InterruptedException {
        Process sync = new ProcessBuilder("sync").inheritIO().start();
        assertTrue(sync.waitFor(60, TimeUnit.SECONDS));
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    @Test
    void filesReadThroughTheMountSurviveAnS3OutageWhenCachedAndFailWithEioNamingTheBackendWhenNot() throws Exception {
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Path log = home.resolve("log").resolve("mount-web.log");
        String mounted = dcd.ok("mount", "web", mnt.toString());
        assertTrue(mounted.startsWith("mounted web at " + mnt), mounted);
        try {
            for (String warm : List.of("a/warm1", "a/warm2")) {
                assertEquals(expected.get(warm), sha(mnt.resolve("files").resolve(warm)), warm);
            }
            server.stop();
            try {
                dropPageCache();
                for (String warm : List.of("a/warm1", "a/warm2")) {
                    assertEquals(expected.get(warm), sha(mnt.resolve("files").resolve(warm)),
                            warm + " is served from dcd's cache while S3 is down");
                }
                for (String cold : List.of("c/cold1", "c/cold2")) {
                    IOException e = assertThrows(IOException.class, () -> sha(mnt.resolve("files").resolve(cold)), cold);
                    assertTrue(String.valueOf(e.getMessage()).contains("Input/output error"), "EIO: " + e);
                }
                String logged = Files.readString(log);
                assertTrue(logged.lines().anyMatch(l -> l.startsWith("dcd-fuse: read /files/c/cold")
                                && l.contains("returning EIO") && l.contains("app web@1.0 on backend '" + BACKEND + "'")),
                        "the serving log names app and backend:\n" + logged);
                assertTrue(!logged.contains(server.credential()), "no secret in the log");
                // Metadata is local: listing and stat keep working.
                assertEquals(List.of("cold1", "cold2"), list(mnt.resolve("files/c")));
            } finally {
                server.restart();
            }
            for (String cold : List.of("c/cold1", "c/cold2")) {
                assertEquals(expected.get(cold), sha(mnt.resolve("files").resolve(cold)), cold + " reads once S3 is back");
            }
            String stats = dcd.ok("stats", "web");
            assertTrue(stats.contains(BACKEND), stats);
        } finally {
            DcdJar.Result umount = dcd.run("umount", mnt.toString());
            if (umount.code() != 0) {
                new ProcessBuilder("fusermount", "-u", "-z", mnt.toString()).inheritIO().start().waitFor(20, TimeUnit.SECONDS);
            }
            assertEquals(0, umount.code(), umount.toString());
        }
        assertTrue(Files.readString(Path.of("/proc/self/mountinfo")).lines().noneMatch(l -> l.contains(" " + mnt + " ")),
                "unmounted");
    }

    private static List<String> list(Path directory) throws IOException {
        try (var names = Files.list(directory)) {
            return names.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
