package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What every backend promises. Each backend's test subclasses this and supplies a fresh, empty backend;
 * the integration suite runs it against real servers.
 */
public abstract class BackendContractTest {
    @TempDir
    protected Path temp;
    protected Backend backend;

    /** A fresh, empty backend. */
    protected abstract Backend newBackend() throws Exception;

    @BeforeEach
    void open() throws Exception {
        backend = newBackend();
    }

    @AfterEach
    void close() throws Exception {
        if (backend != null) {
            backend.close();
        }
    }

    protected SealedVdisk sampleVdisk(String name, int seed, int files, int maxFileSize) throws IOException {
        Random random = new Random(seed);
        Path file = temp.resolve(name + "-" + seed + ".vdisk");
        try (VdiskWriter writer = VdiskWriter.create(file, name, "1." + seed, Long.MAX_VALUE)) {
            writer.directory("bin", 0755, 0, 0, 1_700_000_000L, 0);
            for (int i = 0; i < files; i++) {
                byte[] data = new byte[random.nextInt(maxFileSize)];
                random.nextBytes(data);
                writer.file("bin/f" + i, 0644, 0, 0, 1_700_000_000L, 0, new ByteArrayInputStream(data), data.length);
            }
            return writer.finish();
        }
    }

    protected void put(SealedVdisk vdisk) throws IOException {
        try (InputStream in = Files.newInputStream(vdisk.file())) {
            backend.put(vdisk.id(), in, vdisk.length(), Progress.NONE);
        }
    }

    @Test
    void aStoredVdiskReadsBackByteForByte() throws Exception {
        SealedVdisk vdisk = sampleVdisk("app", 1, 20, 300_000);
        put(vdisk);
        byte[] expected = Files.readAllBytes(vdisk.file());
        try (BlockDevice device = backend.open(vdisk.id())) {
            assertEquals(expected.length, device.size());
            ByteBuffer all = ByteBuffer.allocate(expected.length);
            device.read(0, all);
            assertArrayEquals(expected, all.array());
        }
    }

    @Test
    void rangedReadsAtAnyOffsetMatchTheSource() throws Exception {
        SealedVdisk vdisk = sampleVdisk("app", 2, 10, 200_000);
        put(vdisk);
        byte[] expected = Files.readAllBytes(vdisk.file());
        Random random = new Random(7);
        try (BlockDevice device = backend.open(vdisk.id())) {
            for (int i = 0; i < 50; i++) {
                int offset = random.nextInt(expected.length);
                int length = random.nextInt(Math.min(100_000, expected.length - offset) + 1);
                ByteBuffer dst = ByteBuffer.allocate(length);
                device.read(offset, dst);
                for (int j = 0; j < length; j++) {
                    assertEquals(expected[offset + j], dst.get(j), "byte " + (offset + j));
                }
            }
        }
    }

    @Test
    void concurrentReadersSeeTheSameBytes() throws Exception {
        SealedVdisk vdisk = sampleVdisk("app", 3, 8, 500_000);
        put(vdisk);
        byte[] expected = Files.readAllBytes(vdisk.file());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (BlockDevice device = backend.open(vdisk.id())) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int seed = t;
                futures.add(pool.submit(() -> {
                    Random random = new Random(seed);
                    for (int i = 0; i < 20; i++) {
                        int offset = random.nextInt(expected.length - 4096);
                        ByteBuffer dst = ByteBuffer.allocate(4096);
                        device.read(offset, dst);
                        for (int j = 0; j < 4096; j++) {
                            if (expected[offset + j] != dst.get(j)) {
                                throw new AssertionError("mismatch at " + (offset + j));
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void theStoredVdiskIsSelfDescribing() throws Exception {
        SealedVdisk vdisk = sampleVdisk("selfdesc", 4, 5, 10_000);
        put(vdisk);
        try (BlockDevice device = backend.open(vdisk.id())) {
            AppVdisk opened = AppVdisk.open(device);
            assertEquals(vdisk.id(), opened.id());
            assertEquals("selfdesc", opened.manifest().appName());
            for (Entry e : vdisk.manifest().entries()) {
                assertEquals(e, opened.manifest().entry(e.path()));
            }
        }
    }

    @Test
    void statListAndDelete() throws Exception {
        SealedVdisk a = sampleVdisk("a", 5, 3, 5000);
        SealedVdisk b = sampleVdisk("b", 6, 3, 5000);
        assertTrue(backend.stat(a.id()).isEmpty());
        put(a);
        put(b);
        assertEquals(a.length(), backend.stat(a.id()).orElseThrow().size());
        List<ContentId> ids = backend.list().stream().map(Backend.ObjectStat::id).toList();
        assertTrue(ids.contains(a.id()) && ids.contains(b.id()), ids.toString());
        backend.delete(a.id());
        assertTrue(backend.stat(a.id()).isEmpty());
        assertFalse(backend.list().stream().anyMatch(s -> s.id().equals(a.id())));
        backend.delete(a.id());
    }

    @Test
    void aPutThatFailsMidwayLeavesNothingVisible() throws Exception {
        SealedVdisk vdisk = sampleVdisk("broken", 8, 4, 100_000);
        InputStream failing = new InputStream() {
            private final InputStream inner = Files.newInputStream(vdisk.file());
            private long read;

            @Override
            public int read() throws IOException {
                throw new IOException("unused");
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (read > vdisk.length() / 2) {
                    throw new IOException("simulated source failure");
                }
                int n = inner.read(b, off, Math.min(len, 8192));
                read += Math.max(n, 0);
                return n;
            }
        };
        assertThrows(IOException.class, () -> backend.put(vdisk.id(), failing, vdisk.length(), Progress.NONE));
        assertTrue(backend.stat(vdisk.id()).isEmpty());
        assertFalse(backend.list().stream().anyMatch(s -> s.id().equals(vdisk.id())));
    }

    @Test
    void errorsNameTheBackendAndTheObject() throws Exception {
        ContentId missing = new ContentId("ab".repeat(32));
        IOException e = assertThrows(IOException.class, () -> backend.open(missing).read(0, ByteBuffer.allocate(1)));
        assertTrue(e.getMessage().contains(backend.name()), e.getMessage());
        assertTrue(e.getMessage().contains(missing.hex()), e.getMessage());
    }

    @Test
    void readsPastTheEndFail() throws Exception {
        SealedVdisk vdisk = sampleVdisk("app", 9, 2, 1000);
        put(vdisk);
        try (BlockDevice device = backend.open(vdisk.id())) {
            assertThrows(IOException.class, () -> device.read(device.size() - 10, ByteBuffer.allocate(20)));
        }
    }

    @Test
    void aVdiskStoredFromItsFileReadsBackByteForByteAndStoringItAgainChangesNothing() throws Exception {
        SealedVdisk vdisk = sampleVdisk("fromfile", 10, 12, 200_000);
        byte[] expected = Files.readAllBytes(vdisk.file());
        Path copy = Files.write(temp.resolve("copy.vdisk"), expected);

        backend.putFile(vdisk.id(), vdisk.file(), Progress.NONE);
        backend.putFile(vdisk.id(), copy, Progress.NONE);

        assertEquals(java.util.Optional.of(new Backend.ObjectStat(vdisk.id(), expected.length)), backend.stat(vdisk.id()));
        try (BlockDevice device = backend.open(vdisk.id())) {
            ByteBuffer all = ByteBuffer.allocate(expected.length);
            device.read(0, all);
            assertArrayEquals(expected, all.array());
        }
    }
}
