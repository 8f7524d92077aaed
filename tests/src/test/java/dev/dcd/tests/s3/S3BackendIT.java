package dev.dcd.tests.s3;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendContractTest;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The backend contract, and what only a remote store can get wrong, against a real S3Proxy in its own process.
 * Credentials reach the backend the way they would in production: through the AWS default chain (here its
 * system-property step), never through the URI.
 */
@Timeout(180)
class S3BackendIT extends BackendContractTest {
    private static final String BUCKET = "dcd-it";
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static Path serverDir;
    private static S3ProxyServer server;

    @BeforeAll
    static void startServer() throws IOException {
        serverDir = Files.createTempDirectory("dcd-s3proxy-it");
        server = S3ProxyServer.start(serverDir);
        server.exportCredentialsAsSystemProperties();
        server.createBucket(BUCKET);
    }

    @AfterAll
    static void stopServer() throws IOException {
        if (server != null) {
            server.close();
        }
        if (serverDir != null) {
            try (Stream<Path> files = Files.walk(serverDir)) {
                files.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    private String prefix;

    /** Every test gets its own prefix, so the shared bucket looks empty to it. */
    @Override
    protected Backend newBackend() throws Exception {
        prefix = "t" + PREFIXES.incrementAndGet() + "/vdisks";
        return s3Backend("s3test", prefix, "");
    }

    private Backend s3Backend(String name, String keyPrefix, String extra) throws IOException {
        URI uri = URI.create("s3://" + BUCKET + "/" + keyPrefix + "?endpoint=" + server.endpoint()
                + "&region=us-east-1&path-style=true" + extra);
        return Backends.open(name, uri);
    }

    private Path objectFile(String keyPrefix, ContentId id) {
        return server.basedir().resolve(BUCKET).resolve(keyPrefix).resolve(id.hex() + ".vdisk");
    }

    /** A vdisk of {@code files} random files of exactly {@code fileSize} bytes. */
    private SealedVdisk vdiskOf(String name, int seed, int files, int fileSize) throws IOException {
        Random random = new Random(seed);
        Path file = temp.resolve(name + "-" + seed + ".vdisk");
        try (VdiskWriter writer = VdiskWriter.create(file, name, "1." + seed, Long.MAX_VALUE)) {
            byte[] data = new byte[fileSize];
            for (int i = 0; i < files; i++) {
                random.nextBytes(data);
                writer.file("f" + i, 0644, 0, 0, 1_700_000_000L, 0, new java.io.ByteArrayInputStream(data), data.length);
            }
            return writer.finish();
        }
    }

    private static byte[] read(BlockDevice device, long offset, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(length);
        device.read(offset, dst);
        return dst.array();
    }

    private static byte[] slice(Path file, long offset, int length) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
            byte[] out = new byte[length];
            raf.seek(offset);
            raf.readFully(out);
            return out;
        }
    }

    @Test
    void aVdiskLargerThanTwoPartsIsUploadedInPartsWithProgressAndReadsBack() throws Exception {
        SealedVdisk vdisk = vdiskOf("multipart", 21, 3, 5 * 1024 * 1024 + 12345);
        assertTrue(vdisk.length() > 3L * 5 * 1024 * 1024, "needs four 5 MiB parts");
        List<Long> progress = new CopyOnWriteArrayList<>();
        try (Backend multipart = s3Backend("s3mp", prefix, "&part-mib=5&upload-parallelism=2");
             InputStream in = Files.newInputStream(vdisk.file())) {
            multipart.put(vdisk.id(), in, vdisk.length(), progress::add);
            assertEquals(4, progress.size(), "one progress step per part: " + progress);
            for (int i = 1; i < progress.size(); i++) {
                assertTrue(progress.get(i) > progress.get(i - 1), "cumulative: " + progress);
            }
            assertEquals(vdisk.length(), progress.get(progress.size() - 1));
            assertEquals(vdisk.length(), multipart.stat(vdisk.id()).orElseThrow().size());
            byte[] expected = Files.readAllBytes(vdisk.file());
            try (BlockDevice device = multipart.open(vdisk.id())) {
                assertArrayEquals(expected, read(device, 0, expected.length));
            }
        }
        try (S3Client client = server.client()) {
            assertTrue(client.listMultipartUploads(b -> b.bucket(BUCKET)).uploads().isEmpty());
        }
    }

    @Test
    void aFailedMultipartUploadLeavesNoObjectAndNoPendingUpload() throws Exception {
        SealedVdisk vdisk = vdiskOf("failing", 22, 3, 5 * 1024 * 1024 + 999);
        long failAfter = 12L * 1024 * 1024; // two parts sent, the third cannot be read
        InputStream failing = new InputStream() {
            private final InputStream inner = Files.newInputStream(vdisk.file());
            private long read;

            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (read >= failAfter) {
                    throw new IOException("simulated disk error");
                }
                int n = inner.read(b, off, (int) Math.min(len, failAfter - read));
                read += Math.max(0, n);
                return n;
            }
        };
        List<Long> progress = new CopyOnWriteArrayList<>();
        try (Backend multipart = s3Backend("s3mp", prefix, "&part-mib=5&upload-parallelism=2")) {
            BackendException e = assertThrows(BackendException.class,
                    () -> multipart.put(vdisk.id(), failing, vdisk.length(), progress::add));
            assertTrue(e.getMessage().contains("simulated disk error") && e.getMessage().contains("nothing was stored"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("s3mp") && e.getMessage().contains(vdisk.id().hex()), e.getMessage());
            assertTrue(multipart.stat(vdisk.id()).isEmpty());
            assertTrue(multipart.list().isEmpty());
        }
        try (S3Client client = server.client()) {
            List<MultipartUpload> pending = client.listMultipartUploads(b -> b.bucket(BUCKET)).uploads();
            assertTrue(pending.isEmpty(), "pending uploads: " + pending);
            List<S3Object> objects = client.listObjectsV2(b -> b.bucket(BUCKET).prefix(prefix.split("/")[0] + "/")).contents();
            assertTrue(objects.isEmpty(), "objects left: " + objects);
        }
        try (Stream<Path> files = Files.walk(server.basedir().resolve(BUCKET))) {
            List<Path> left = files.filter(Files::isRegularFile)
                    .filter(p -> p.toString().contains(vdisk.id().hex()) || p.toString().contains(prefix.split("/")[0] + "/"))
                    .toList();
            assertTrue(left.isEmpty(), "files left in S3Proxy's storage: " + left);
        }
    }

    @Test
    void aCorruptedObjectIsDetectedNamedAndNeverServed() throws Exception {
        SealedVdisk vdisk = vdiskOf("corrupt", 23, 4, 300_000);
        put(vdisk);
        Entry victim = vdisk.manifest().entry("f2");
        ChunkChecksums sums = vdisk.manifest().checksums();
        long flipAt = victim.dataOffset() + 1000;
        int chunk = sums.chunkOf(flipAt);
        byte[] original = slice(vdisk.file(), flipAt, 1);
        Path stored = objectFile(prefix, vdisk.id());
        assertTrue(Files.isRegularFile(stored), "S3Proxy keeps the object at " + stored);
        try (RandomAccessFile raf = new RandomAccessFile(stored.toFile(), "rw")) {
            raf.seek(flipAt);
            raf.write(original[0] ^ 0x01);
        }
        try (BlockDevice device = backend.open(vdisk.id())) {
            ByteBuffer dst = ByteBuffer.allocate(4096);
            BackendException e = assertThrows(BackendException.class, () -> device.read(victim.dataOffset(), dst));
            assertTrue(e.getMessage().contains("backend 's3test'"), e.getMessage());
            assertTrue(e.getMessage().contains(prefix + "/" + vdisk.id().hex() + ".vdisk"), e.getMessage());
            assertTrue(e.getMessage().contains("chunk " + chunk + " "), e.getMessage());
            assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
            assertEquals(0, dst.position());
            assertArrayEquals(new byte[4096], dst.array(), "not one byte of the corrupt chunk was served");
            // Through the file API as well: the read fails rather than returning wrong content.
            AppVdisk app = AppVdisk.open(device);
            assertThrows(BackendException.class, () -> app.open(victim).readAllBytes());
            // Chunks that are intact still read.
            Entry healthy = vdisk.manifest().entry("f0");
            assertArrayEquals(slice(vdisk.file(), healthy.dataOffset(), 4096), read(device, healthy.dataOffset(), 4096));
        }
    }

    @Test
    void aCorruptedHeaderFailsOpenWithAClearError() throws Exception {
        SealedVdisk vdisk = vdiskOf("badheader", 24, 1, 10_000);
        put(vdisk);
        try (RandomAccessFile raf = new RandomAccessFile(objectFile(prefix, vdisk.id()).toFile(), "rw")) {
            raf.seek(VdiskFormat.H_DATA_LENGTH);
            raf.write(0x7f);
        }
        BackendException e = assertThrows(BackendException.class, () -> backend.open(vdisk.id()));
        assertTrue(e.getMessage().contains("s3test") && e.getMessage().contains(vdisk.id().hex())
                && e.getMessage().contains("corrupt header"), e.getMessage());
    }

    @Test
    void whenTheServerStopsReadsFailWithinTheDeadlineAndWorkAgainAfterRestart() throws Exception {
        SealedVdisk vdisk = vdiskOf("outage", 25, 8, 200_000);
        put(vdisk);
        byte[] expected = Files.readAllBytes(vdisk.file());
        try (Backend outage = s3Backend("s3outage", prefix, "&deadline-ms=3000&retries=20&backoff-ms=50");
             BlockDevice device = outage.open(vdisk.id())) {
            assertArrayEquals(Arrays.copyOfRange(expected, 4096, 8192), read(device, 4096, 4096));
            server.stop();
            try {
                long start = System.nanoTime();
                long farAway = expected.length - 300_000;
                BackendException e = assertThrows(BackendException.class, () -> read(device, farAway, 100_000));
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertTrue(millis < 3000 + 2000, "gave up after " + millis + " ms, deadline 3000 ms");
                assertTrue(e.getMessage().contains("backend 's3outage'"), e.getMessage());
                assertTrue(e.getMessage().contains(vdisk.id().hex()), e.getMessage());
                assertTrue(e.getMessage().contains("gave up after"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                assertEquals(e.getMessage().indexOf("backend '"), e.getMessage().lastIndexOf("backend '"),
                        "the backend is named once: " + e.getMessage());
                System.out.println("outage read error: " + e.getMessage());

                long statStart = System.nanoTime();
                BackendException s = assertThrows(BackendException.class, () -> outage.stat(vdisk.id()));
                assertTrue((System.nanoTime() - statStart) / 1_000_000 < 5000);
                assertTrue(s.getMessage().contains("s3outage"), s.getMessage());
            } finally {
                server.restart();
            }
            assertArrayEquals(Arrays.copyOfRange(expected, expected.length - 300_000, expected.length - 200_000),
                    read(device, expected.length - 300_000, 100_000));
            assertArrayEquals(expected, read(device, 0, expected.length));
        }
    }

    @Test
    void aMissingObjectFailsAtOnceWithoutRetrying() throws Exception {
        try (Backend slow = s3Backend("s3missing", prefix, "&deadline-ms=60000&retries=50&backoff-ms=5000")) {
            long start = System.nanoTime();
            ContentId missing = new ContentId("cd".repeat(32));
            BackendException e = assertThrows(BackendException.class, () -> slow.open(missing));
            assertTrue((System.nanoTime() - start) / 1_000_000 < 4000, "a 404 is not retried (one retry would wait 5 s)");
            assertTrue(e.getMessage().contains("no such vdisk") && e.getMessage().contains(missing.hex()), e.getMessage());
        }
    }

    @Test
    void checkReportsReachabilityLatencyAndPermissionsAndLeavesNoProbe() throws Exception {
        Backend.HealthReport report = backend.check();
        assertTrue(report.ok(), report.detail());
        assertTrue(report.latencyNanos() > 0);
        assertTrue(report.detail().contains("HeadBucket"), report.detail());
        assertTrue(report.detail().contains("list ok"), report.detail());
        assertTrue(report.detail().contains("probe put/get ok") && report.detail().contains("probe delete ok"), report.detail());
        try (S3Client client = server.client()) {
            assertTrue(client.listObjectsV2(b -> b.bucket(BUCKET).prefix(prefix + "/")).contents().isEmpty(),
                    "the probe object was removed");
        }
    }

    @Test
    void checkFailsCleanlyWhenTheServerIsDown() throws Exception {
        server.stop();
        try {
            long start = System.nanoTime();
            Backend.HealthReport report = backend.check();
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertFalse(report.ok());
            assertTrue(report.detail().contains("unreachable"), report.detail());
            assertFalse(report.detail().contains("\n"), report.detail());
            assertTrue(millis < 8000, "check took " + millis + " ms");
        } finally {
            server.restart();
        }
        assertTrue(backend.check().ok());
    }

    @Test
    void credentialsNeverAppearInMessagesOrDescriptions() throws Exception {
        List<String> texts = new ArrayList<>();
        SealedVdisk vdisk = vdiskOf("secrets", 26, 2, 100_000);
        put(vdisk);
        texts.add(backend.toString());
        texts.add(backend.uri().toString());
        texts.add(backend.check().detail());
        try (BlockDevice device = backend.open(vdisk.id())) {
            texts.add(device.describe());
            texts.add(device.toString());
        }
        texts.add(assertThrows(IOException.class, () -> backend.open(new ContentId("ef".repeat(32)))).getMessage());
        // A wrong secret: the server refuses every request; the messages say so without the secret.
        String wrong = "wrong-secret-0123456789";
        System.setProperty("aws.secretAccessKey", wrong);
        try (Backend refused = s3Backend("s3refused", prefix, "&deadline-ms=2000")) {
            IOException e = assertThrows(IOException.class, () -> refused.stat(vdisk.id()));
            assertTrue(e.getMessage().contains("403"), e.getMessage());
            texts.add(e.getMessage());
            Backend.HealthReport report = refused.check();
            assertFalse(report.ok());
            texts.add(report.detail());
            texts.add(refused.toString());
        } finally {
            server.exportCredentialsAsSystemProperties();
        }
        server.stop();
        try {
            texts.add(assertThrows(IOException.class, () -> backend.list()).getMessage());
            texts.add(backend.check().detail());
        } finally {
            server.restart();
        }
        for (String text : texts) {
            assertFalse(text.contains(server.credential()), text);
            assertFalse(text.contains(server.identity()), text);
            assertFalse(text.contains(wrong), text);
        }
    }

    @Test
    void credentialsCanComeFromANamedProfileInTheSharedCredentialsFile() throws Exception {
        Path credentials = temp.resolve("aws-credentials");
        Files.writeString(credentials, "[default]\naws_access_key_id = NOTTHEONE\naws_secret_access_key = nope\n\n"
                + "[dcd-it]\naws_access_key_id = " + server.identity() + "\naws_secret_access_key = " + server.credential() + "\n");
        Path config = temp.resolve("aws-config");
        Files.writeString(config, "");
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
        System.setProperty("aws.sharedCredentialsFile", credentials.toString());
        System.setProperty("aws.configFile", config.toString());
        try {
            SealedVdisk vdisk = vdiskOf("profile", 29, 2, 20_000);
            try (Backend viaProfile = s3Backend("s3profile", prefix, "&profile=dcd-it");
                 InputStream in = Files.newInputStream(vdisk.file())) {
                viaProfile.put(vdisk.id(), in, vdisk.length(), done -> { });
                try (BlockDevice device = viaProfile.open(vdisk.id())) {
                    assertEquals(vdisk.id(), AppVdisk.open(device).id());
                }
            }
            try (Backend viaDefault = s3Backend("s3default", prefix, "&deadline-ms=2000")) {
                IOException e = assertThrows(IOException.class, () -> viaDefault.stat(vdisk.id()));
                assertTrue(e.getMessage().contains("403"), "the default profile's key is refused: " + e.getMessage());
                assertFalse(e.getMessage().contains("NOTTHEONE"), e.getMessage());
            }
        } finally {
            System.clearProperty("aws.sharedCredentialsFile");
            System.clearProperty("aws.configFile");
            server.exportCredentialsAsSystemProperties();
        }
    }

    @Test
    void aSecondPutOfTheSameVdiskIsANoOp() throws Exception {
        SealedVdisk vdisk = vdiskOf("twice", 27, 2, 50_000);
        put(vdisk);
        List<Long> progress = new CopyOnWriteArrayList<>();
        backend.put(vdisk.id(), InputStream.nullInputStream(), vdisk.length(), progress::add);
        assertEquals(List.of(vdisk.length()), progress);
        try (BlockDevice device = backend.open(vdisk.id())) {
            assertEquals(vdisk.id(), AppVdisk.open(device).id());
        }
    }

    @Test
    void listPagesThroughManyObjectsAndIgnoresForeignKeys() throws Exception {
        // Written straight into S3Proxy's storage: 1100 PUTs would cost far more than the listing under test.
        Path dir = server.basedir().resolve(BUCKET).resolve(prefix);
        Files.createDirectories(dir.resolve("nested"));
        for (int i = 0; i < 1100; i++) {
            Files.write(dir.resolve(String.format("%064x", i) + ".vdisk"), new byte[] {1});
        }
        Files.write(dir.resolve("README"), new byte[] {1});
        Files.write(dir.resolve("nested").resolve("ab".repeat(32) + ".vdisk"), new byte[] {1});
        List<Backend.ObjectStat> listed = backend.list();
        assertEquals(1100, listed.size(), "more than one page of 1000, and nothing else");
        assertEquals(String.format("%064x", 0), listed.get(0).id().hex());
        assertEquals(String.format("%064x", 1099), listed.get(1099).id().hex());
        assertEquals(1, listed.get(0).size());
    }

    @Test
    void progressReachesTheLengthForASinglePut() throws Exception {
        SealedVdisk vdisk = vdiskOf("single", 28, 2, 10_000);
        List<Long> progress = new CopyOnWriteArrayList<>();
        try (InputStream in = Files.newInputStream(vdisk.file())) {
            backend.put(vdisk.id(), in, vdisk.length(), progress::add);
        }
        assertEquals(List.of(vdisk.length()), progress);
    }
}
