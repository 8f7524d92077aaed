package dev.dcd.tests.s3;

import dev.dcd.catalog.AppVersion;
import dev.dcd.filter.AppReadException;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The S3 issue end to end, through the chain: an app imported with the real command tree onto an S3 backend
 * served by a real S3Proxy, assigned to a VM, built, and read back as the VM's dynamic content disk with the
 * shared cache in front of the backend; then S3Proxy goes away and comes back, and an object gets corrupted.
 */
class S3EndToEndIT {
    private static final String BUCKET = "dcd-e2e";
    private static final String BACKEND = "s3main";
    private static final int FUSE_REQUEST = 128 * 1024;

    @TempDir
    static Path dir;
    private static S3ProxyServer server;
    private static S3Home dcd;
    /** Source file sha256 by path inside the app. */
    private static final Map<String, String> expected = new LinkedHashMap<>();

    @BeforeAll
    static void importAnAppToS3AndBuildAVm() throws IOException {
        server = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3proxy")));
        server.createBucket(BUCKET);
        server.exportCredentialsAsSystemProperties();
        dcd = new S3Home(dir.resolve("home"));

        Path app = Files.createDirectories(dir.resolve("src/web-1.0"));
        Random random = new Random(42);
        write(app, "bin/server", 300 * 1024 + 17, random);
        write(app, "etc/config.txt", 1234, random);
        for (int i = 0; i < 8; i++) {
            // part02..04 (48 MiB) lie between the warm and the cold files of the outage test: more than the
            // readahead can have prefetched (two windows of at most 16 MiB) past the last warm file.
            int mib = i >= 2 && i <= 4 ? 16 : 1 + i % 3;
            write(app, String.format("data/part%02d.bin", i), mib * 1024 * 1024 + 4096 * i + 5, random);
        }
        Path other = Files.createDirectories(dir.resolve("src/blob-2.0"));
        for (int i = 0; i < 3; i++) {
            write(other, "blob" + i, 2 * 1024 * 1024, random);
        }

        // Short deadline so reads against a stopped server fail in seconds, not after the 30 s default.
        dcd.ok("backend", "add", BACKEND, "s3://" + BUCKET + "/apps?endpoint=" + server.endpoint()
                + "&region=us-east-1&path-style=true&deadline-ms=3000");
        dcd.ok("catalog", "import", app.toString(), "--backend", BACKEND);
        dcd.ok("catalog", "import", other.toString(), "--backend", BACKEND);
        dcd.ok("vm", "create", "web", "--size", "192M");
        dcd.ok("vm", "assign", "web", "web@1.0");
        dcd.ok("disk", "build", "web");
        dcd.ok("vm", "create", "blobs", "--size", "64M");
        dcd.ok("vm", "assign", "blobs", "blob@2.0");
        dcd.ok("disk", "build", "blobs");
        try (Stream<Path> files = Files.walk(app)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                expected.put(app.relativize(f).toString(), S3Home.sha256(f));
            }
        }
    }

    private static void write(Path root, String path, int size, Random random) throws IOException {
        byte[] bytes = new byte[size];
        random.nextBytes(bytes);
        Path file = root.resolve(path);
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
    }

    @AfterAll
    static void stop() throws IOException {
        if (dcd != null) {
            dcd.close();
        }
        if (server != null) {
            server.close();
        }
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
    }

    /**
     * Each chain gets backends of its own (a fresh {@link S3Home} view of the same home): the S3 backend keeps
     * recently fetched chunks in memory, which would otherwise let one test's reads serve another's.
     */
    private static DynamicContentDisk openWeb(S3Home view, BlockCache cache) throws IOException {
        return view.open("web", cache, Set.of(BACKEND), ReadaheadConfig.DEFAULT, Set.of(BACKEND));
    }

    private static S3Home view() {
        return new S3Home(dcd.home());
    }

    private static Map<String, FileIndex.Node> webFiles() throws IOException {
        Map<String, FileIndex.Node> files = new java.util.TreeMap<>();
        for (FileIndex.Node node : S3Home.files(dcd.index("web"))) {
            files.put(node.path(), node);
        }
        return files;
    }

    @Test
    void theImportedVdiskLivesInTheBucketNotInTheLocalStore() throws IOException {
        AppVersion web = dcd.app("web@1.0");
        assertEquals(BACKEND, web.backend());
        assertTrue(Files.isRegularFile(server.basedir().resolve(BUCKET).resolve("apps").resolve(web.contentId() + ".vdisk")));
        Path local = dcd.home().resolve("vdisks");
        if (Files.exists(local)) {
            try (Stream<Path> stored = Files.list(local)) {
                assertEquals(0, stored.count(), "nothing was stored on the local backend");
            }
        }
    }

    @Test
    void everyFileReadThroughTheCachedChainHasItsSourceSha256AndTheSecondPassComesFromTheCache() throws IOException {
        Map<String, FileIndex.Node> files = webFiles();
        assertEquals(expected.keySet(), files.keySet());
        try (S3Home view = view(); BlockCache cache = BlockCache.open(Files.createTempDirectory(dir, "cache"), 128L << 20);
             DynamicContentDisk disk = openWeb(view, cache)) {
            for (var e : files.entrySet()) {
                assertEquals(expected.get(e.getKey()), S3Home.sha256(disk, e.getValue(), FUSE_REQUEST), e.getKey());
            }
            BlockCache.Stats cold = cache.stats();
            assertTrue(cold.misses() > 0 && cold.usedBytes() > 0, "the first pass filled the cache: " + cold);
            for (var e : files.entrySet()) {
                assertEquals(expected.get(e.getKey()), S3Home.sha256(disk, e.getValue(), FUSE_REQUEST), e.getKey());
            }
            BlockCache.Stats warm = cache.stats();
            assertEquals(cold.misses(), warm.misses(), "the second pass missed nothing: " + warm);
            assertTrue(warm.hits() > cold.hits());
            assertEquals(0, warm.corrupt());
            assertTrue(disk.stats().toJson().contains(BACKEND), "stats attribute reads to the backend");
        }
    }

    @Test
    void withS3ProxyStoppedWarmFilesStillReadAndColdOnesFailNamingAppAndBackendUntilItIsBack() throws Exception {
        Map<String, FileIndex.Node> files = webFiles();
        List<String> warm = new ArrayList<>();
        List<String> cold = new ArrayList<>();
        for (String path : files.keySet()) {
            if (path.compareTo("data/part05") >= 0 && path.startsWith("data/")) {
                cold.add(path);
            } else if (path.compareTo("data/part02") < 0) {
                warm.add(path);
            }
        }
        assertEquals(List.of("data/part05.bin", "data/part06.bin", "data/part07.bin"), cold);
        assertEquals(List.of("bin/server", "data/part00.bin", "data/part01.bin"), warm);
        long lastWarmEnd = files.get("data/part01.bin").extentOffset(0) + files.get("data/part01.bin").size();
        assertTrue(files.get("data/part05.bin").extentOffset(0) - lastWarmEnd > 40L << 20,
                "the cold files lie beyond any readahead of the warm ones");
        try (S3Home view = view(); BlockCache cache = BlockCache.open(Files.createTempDirectory(dir, "cache"), 128L << 20);
             DynamicContentDisk disk = openWeb(view, cache)) {
            for (String path : warm) {
                assertEquals(expected.get(path), S3Home.sha256(disk, files.get(path), FUSE_REQUEST), path);
            }
            server.stop();
            try {
                for (String path : warm) {
                    assertEquals(expected.get(path), S3Home.sha256(disk, files.get(path), FUSE_REQUEST),
                            "warm file " + path + " reads from the cache while S3 is down");
                }
                for (String path : cold) {
                    long start = System.nanoTime();
                    IOException e = assertThrows(IOException.class,
                            () -> S3Home.sha256(disk, files.get(path), FUSE_REQUEST), path);
                    long millis = (System.nanoTime() - start) / 1_000_000;
                    AppReadException app = assertInstanceOf(AppReadException.class, e);
                    assertEquals("web@1.0", app.app());
                    assertEquals(BACKEND, app.backend());
                    assertTrue(e.getMessage().startsWith("app web@1.0 on backend '" + BACKEND + "': "), e.getMessage());
                    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
                    assertFalse(e.getMessage().contains(S3ProxyServer.CREDENTIAL), "no secret in " + e.getMessage());
                    assertTrue(millis < 15_000, "failed within the deadline, took " + millis + " ms");
                }
                // Metadata never needs the backend: the superblock and the group descriptors still read.
                disk.read(0, java.nio.ByteBuffer.allocate((1 << 20) + 65536));
            } finally {
                server.restart();
            }
            for (String path : cold) {
                assertEquals(expected.get(path), S3Home.sha256(disk, files.get(path), FUSE_REQUEST),
                        "cold file " + path + " reads once S3 is back");
            }
        }
    }

    @Test
    void aFullyCachedAppStartsAndReadsWithS3DownInANewChainOverTheSameCache() throws Exception {
        Map<String, FileIndex.Node> files = webFiles();
        Path cacheDir = Files.createTempDirectory(dir, "cache");
        try (S3Home view = view(); BlockCache cache = BlockCache.open(cacheDir, 128L << 20);
             DynamicContentDisk disk = openWeb(view, cache)) {
            for (var e : files.entrySet()) {
                S3Home.sha256(disk, e.getValue(), FUSE_REQUEST);
            }
        }
        server.stop();
        try (S3Home fresh = view();
             BlockCache cache = BlockCache.open(cacheDir, 128L << 20);
             DynamicContentDisk disk = fresh.open("web", cache, Set.of(BACKEND), ReadaheadConfig.DEFAULT, Set.of(BACKEND))) {
            for (var e : files.entrySet()) {
                assertEquals(expected.get(e.getKey()), S3Home.sha256(disk, e.getValue(), FUSE_REQUEST), e.getKey());
            }
        } finally {
            server.restart();
        }
    }

    @Test
    void aCorruptedObjectIsDetectedByItsChecksumReportedAndNeverServedAlsoThroughTheCache() throws Exception {
        AppVersion blob = dcd.app("blob@2.0");
        Path object = server.basedir().resolve(BUCKET).resolve("apps").resolve(blob.contentId() + ".vdisk");
        Map<String, FileIndex.Node> files = new LinkedHashMap<>();
        for (FileIndex.Node node : S3Home.files(dcd.index("blobs"))) {
            files.put(node.path(), node);
        }
        // Read the intact data once, straight from S3 (no cache), for reference.
        Map<String, String> good = new LinkedHashMap<>();
        try (S3Home view = view(); DynamicContentDisk disk = view.open("blobs", null, Set.of(), ReadaheadConfig.DISABLED, Set.of())) {
            for (var e : files.entrySet()) {
                good.put(e.getKey(), S3Home.sha256(disk, e.getValue(), FUSE_REQUEST));
            }
        }
        // Flip one byte in the middle of blob1's data in S3Proxy's storage.
        long at = blob1DataOffset(object) + 1024 * 1024 + 777;
        flip(object, at);
        boolean restored = false;
        Path cacheDir = Files.createTempDirectory(dir, "cache");
        try (S3Home view = view(); BlockCache cache = BlockCache.open(cacheDir, 64L << 20);
             DynamicContentDisk disk = view.open("blobs", cache, Set.of(BACKEND), ReadaheadConfig.DEFAULT, Set.of(BACKEND))) {
            for (int attempt = 0; attempt < 2; attempt++) {
                IOException e = assertThrows(IOException.class,
                        () -> S3Home.sha256(disk, files.get("blob1"), FUSE_REQUEST));
                assertInstanceOf(AppReadException.class, e);
                assertTrue(e.getMessage().startsWith("app blob@2.0 on backend '" + BACKEND + "': "), e.getMessage());
                assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
                assertTrue(e.getMessage().contains("not served"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
            assertEquals(good.get("blob0"), S3Home.sha256(disk, files.get("blob0"), FUSE_REQUEST));
            assertEquals(good.get("blob2"), S3Home.sha256(disk, files.get("blob2"), FUSE_REQUEST));
            // Repaired at the source, the same chain reads blob1 right: the bad bytes never entered the cache
            // (a cached bad chunk would now fail its lookup check and count as corrupt).
            flip(object, at);
            restored = true;
            assertEquals(good.get("blob1"), S3Home.sha256(disk, files.get("blob1"), FUSE_REQUEST));
            assertEquals(0, cache.stats().corrupt(), "nothing corrupt was ever cached: " + cache.stats());
        } finally {
            if (!restored) {
                flip(object, at);
            }
        }
        // A cache slot damaged on the host is caught by the same check: dropped, refetched, never served.
        try (S3Home view = view(); BlockCache cache = BlockCache.open(cacheDir, 64L << 20);
             DynamicContentDisk disk = view.open("blobs", cache, Set.of(BACKEND), ReadaheadConfig.DEFAULT, Set.of(BACKEND))) {
            assertEquals(good.get("blob0"), S3Home.sha256(disk, files.get("blob0"), FUSE_REQUEST));
        }
        damageEverySlot(cacheDir.resolve("chunks.slab"));
        try (S3Home view = view(); BlockCache cache = BlockCache.open(cacheDir, 64L << 20);
             DynamicContentDisk disk = view.open("blobs", cache, Set.of(BACKEND), ReadaheadConfig.DEFAULT, Set.of(BACKEND))) {
            assertEquals(good.get("blob0"), S3Home.sha256(disk, files.get("blob0"), FUSE_REQUEST));
            assertTrue(cache.stats().corrupt() > 0, "damaged slots were detected: " + cache.stats());
        }
    }

    private static void flip(Path file, long at) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(at);
            int b = raf.read();
            raf.seek(at);
            raf.write(b ^ 0x5a);
        }
    }

    private static void damageEverySlot(Path slab) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(slab.toFile(), "rw")) {
            for (long at = 100; at < raf.length(); at += 65536) {
                raf.seek(at);
                int b = raf.read();
                raf.seek(at);
                raf.write(b ^ 0xff);
            }
        }
    }

    /** Where blob1's bytes start in the vdisk object, from the vdisk's own manifest. */
    private static long blob1DataOffset(Path object) throws IOException {
        try (var device = dev.dcd.block.FileBlockDevice.openReadOnly(object)) {
            var vdisk = dev.dcd.vdisk.AppVdisk.open(device);
            return vdisk.manifest().entries().stream().filter(e -> e.path().equals("blob1"))
                    .findFirst().orElseThrow().dataOffset();
        }
    }
}
