package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.SealedVdisk;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class DynamicContentDiskTest {
    @TempDir
    static Path temp;
    static TestGeneration gen;

    @TempDir
    Path work;

    @BeforeAll
    static void createGeneration() throws IOException {
        gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 77);
    }

    private Path freshGeneration() throws IOException {
        Path copy = work.resolve("gen");
        Files.createDirectories(copy);
        Files.copy(gen.dir.resolve(DynamicContentDisk.META_IMAGE), copy.resolve(DynamicContentDisk.META_IMAGE));
        Files.copy(gen.dir.resolve(DynamicContentDisk.REGION_MAP), copy.resolve(DynamicContentDisk.REGION_MAP));
        return copy;
    }

    private static RegionMap.Region firstRegionOf(int vdisk) {
        return gen.map.regions().stream().filter(r -> r.kind() == RegionMap.Kind.APP_DATA && r.vdisk() == vdisk)
                .findFirst().orElseThrow();
    }

    /** A device whose every read fails, as a backend that went away mid-run. */
    private static final class BrokenDevice implements BlockDevice {
        private final long size;

        BrokenDevice(long size) {
            this.size = size;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public Capabilities capabilities() {
            return Capabilities.READ_ONLY;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            throw new IOException("connection reset by peer");
        }
    }

    @Test
    void aFailingBackendGivesAnErrorNamingAppAndBackendWhileOtherAppsKeepWorking() throws IOException {
        ContentId broken = gen.map.vdisks().get(0);
        VdiskResolver resolver = id -> id.equals(broken) ? new BrokenDevice(1L << 30) : gen.backend.open(id);
        try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(freshGeneration()).resolver(resolver)
                .labels(gen.labels).build()) {
            RegionMap.Region bad = firstRegionOf(0);
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(bad.start(), ByteBuffer.allocate(4096)));
            assertEquals("app0@1.0", e.app());
            assertEquals("local", e.backend());
            assertTrue(e.getMessage().contains("app0@1.0") && e.getMessage().contains("'local'")
                    && e.getMessage().contains("connection reset"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            RegionMap.Region good = firstRegionOf(1);
            ByteBuffer ok = ByteBuffer.allocate((int) Math.min(good.length(), 65536));
            disk.read(good.start(), ok);
            assertFalse(Zeros.isZero(ok.flip()), "app1's data was read");
            assertEquals(1, disk.stats().op("read").errors());
        }
    }

    @Test
    void aVdiskThatCannotBeOpenedFailsOnlyItsOwnReads() throws IOException {
        ContentId missing = gen.map.vdisks().get(2);
        VdiskResolver resolver = id -> {
            if (id.equals(missing)) {
                throw new dev.dcd.backend.BackendException("local", id.hex(), "no such vdisk");
            }
            return gen.backend.open(id);
        };
        try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(freshGeneration()).resolver(resolver)
                .labels(gen.labels).build()) {
            AppReadException e = assertThrows(AppReadException.class,
                    () -> disk.read(firstRegionOf(2).start(), ByteBuffer.allocate(512)));
            assertTrue(e.getMessage().startsWith("app app2@1.2 on backend 'local': cannot open vdisk"), e.getMessage());
            disk.read(firstRegionOf(0).start(), ByteBuffer.allocate(512));
        }
    }

    @Test
    void appVdisksAreByteForByteUnchangedAfterHeavyGuestWrites() throws Exception {
        List<String> before = new ArrayList<>();
        for (SealedVdisk v : gen.vdisks) {
            before.add(sha256(gen.vdiskFile(v.id())));
        }
        Random random = new Random(3);
        try (DynamicContentDisk disk = gen.disk().generationDir(freshGeneration()).build()) {
            byte[] junk = TestGeneration.bytes(random, 1 << 20);
            for (RegionMap.Region r : gen.map.regions()) {
                if (r.kind() == RegionMap.Kind.APP_DATA) {
                    long pos = r.start();
                    while (pos < r.end()) {
                        int n = (int) Math.min(junk.length - 10, r.end() - pos);
                        disk.write(pos, ByteBuffer.wrap(junk, random.nextInt(10), n));
                        pos += n;
                    }
                }
            }
            disk.trim(0, disk.size() / 2);
            disk.flush();
            assertTrue(disk.stats().op("write").bytes() >= gen.map.bytesOf(RegionMap.Kind.APP_DATA));
        }
        for (int i = 0; i < gen.vdisks.size(); i++) {
            assertEquals(before.get(i), sha256(gen.vdiskFile(gen.vdisks.get(i).id())));
        }
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void extentsReportZeroRegionsAsHolesUntilTheGuestWritesThere() throws IOException {
        try (DynamicContentDisk disk = gen.disk().generationDir(freshGeneration()).build()) {
            assertTrue(disk.capabilities().extents());
            List<Extent> extents = disk.extents(0, disk.size());
            long covered = 0;
            long holes = 0;
            for (Extent e : extents) {
                assertEquals(covered, e.offset(), "extents are contiguous");
                covered += e.length();
                if (e.type() == Extent.Type.HOLE) {
                    holes += e.length();
                }
            }
            assertEquals(disk.size(), covered);
            assertEquals(gen.map.bytesOf(RegionMap.Kind.ZERO), holes);
            RegionMap.Region zero = gen.map.regions().stream()
                    .filter(r -> r.kind() == RegionMap.Kind.ZERO && r.length() >= 8192 && r.start() % 4096 == 0)
                    .findFirst().orElseThrow();
            disk.write(zero.start(), ByteBuffer.wrap(new byte[] {1}));
            assertEquals(new Extent(zero.start(), 4096, Extent.Type.DATA), disk.extents(zero.start(), 8192).get(0));
        }
    }

    @Test
    void capabilitiesOfTheChainAreWritableWithFlushTrimZeroAndExtents() throws IOException {
        try (DynamicContentDisk disk = gen.disk().generationDir(freshGeneration()).build()) {
            assertEquals(new Capabilities(true, true, true, true, true), disk.capabilities());
            assertEquals(gen.map.size(), disk.size());
            assertTrue(disk.describe().startsWith("stats > cow > readahead > redirect("), disk.describe());
        }
    }

    @Test
    void statsCountOperationsAndAttributeReadsToAppsAndBackends() throws IOException {
        try (DynamicContentDisk disk = gen.disk().generationDir(freshGeneration()).build()) {
            RegionMap.Region r = firstRegionOf(1);
            int n = (int) Math.min(r.length(), 8192);
            disk.read(r.start(), ByteBuffer.allocate(n));
            disk.read(0, ByteBuffer.allocate(4096)); // metadata: counted as a read, no app
            disk.write(0, ByteBuffer.allocate(100));
            disk.flush();
            StatsSnapshot s = disk.stats();
            assertEquals("vm1", s.vm());
            assertEquals(2, s.op("read").ops());
            assertEquals(n + 4096, s.op("read").bytes());
            assertEquals(1, s.op("write").ops());
            assertEquals(1, s.op("flush").ops());
            assertTrue(s.op("read").p50Nanos() > 0 && s.op("read").p99Nanos() >= s.op("read").p50Nanos());
            StatsSnapshot.GroupStats app1 = s.apps().stream().filter(a -> a.name().equals("app1@1.1")).findFirst()
                    .orElseThrow();
            assertEquals(1, app1.reads());
            assertEquals(n, app1.bytes());
            assertEquals(List.of("local"), s.backends().stream().map(StatsSnapshot.GroupStats::name).toList());
            assertEquals(n, s.backends().get(0).bytes());
            assertEquals(1, s.overlayBlocks());

            StatsSnapshot back = StatsSnapshot.fromJson(s.toJson());
            assertEquals(s.toJson(), back.toJson());
            assertTrue(s.toJson().contains("\"p99Nanos\""));
            String table = s.formatTable();
            assertTrue(table.startsWith("VM vm1 (overlay: 4.0 KiB)\n"), table);
            assertTrue(table.contains("app1@1.1"), table);
        }
    }

    @Test
    void aDirectoryThatIsNotAGenerationIsRefusedWithOneLine() {
        IOException e = assertThrows(IOException.class,
                () -> DynamicContentDisk.builder().generationDir(work).resolver(gen.resolver()).build());
        assertTrue(e.getMessage().contains("is not a disk generation"));
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void readsOutsideTheDiskAreRefused() throws IOException {
        try (DynamicContentDisk disk = gen.disk().generationDir(freshGeneration()).build()) {
            assertThrows(java.io.EOFException.class, () -> disk.read(disk.size() - 10, ByteBuffer.allocate(11)));
            assertThrows(java.io.EOFException.class, () -> disk.write(-1, ByteBuffer.allocate(1)));
        }
    }
}
