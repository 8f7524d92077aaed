package dev.dcd.filter;

import dev.dcd.block.Capabilities;
import dev.dcd.block.ReadOnlyDeviceException;
import dev.dcd.synth.RegionMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class RedirectPluginTest {
    @TempDir
    Path temp;

    private RedirectPlugin plugin(TestGeneration gen) throws IOException {
        VdiskSlot[] slots = new VdiskSlot[gen.map.vdisks().size()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new VdiskSlot(gen.map.vdisks().get(i), gen.labels.get(gen.map.vdisks().get(i)), gen.resolver(),
                    (id, label, resolver) -> resolver.open(id));
        }
        return new RedirectPlugin(gen.map, gen.dir.resolve(DynamicContentDisk.META_IMAGE), slots);
    }

    @Test
    void theRedirectPluginIsReadOnlyAndReportsExtents() throws IOException {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 3);
        try (RedirectPlugin redirect = plugin(gen)) {
            assertEquals(Capabilities.READ_ONLY.withExtents(true), redirect.capabilities());
            assertThrows(ReadOnlyDeviceException.class, () -> redirect.write(0, ByteBuffer.allocate(1)));
            assertThrows(UnsupportedOperationException.class, () -> redirect.trim(0, 1));
            assertThrows(UnsupportedOperationException.class, () -> redirect.zero(0, 1));
            RegionMap.Region zero = gen.map.regions().stream().filter(r -> r.kind() == RegionMap.Kind.ZERO)
                    .findFirst().orElseThrow();
            assertEquals(List.of(new Extent(zero.start(), zero.length(), Extent.Type.HOLE)),
                    redirect.extents(zero.start(), zero.length()));
        }
    }

    @Test
    void readaheadStaysInTheChainWhenNoVdiskIsOnAPrefetchedBackendSoAnAppThatMovesThereIsPrefetched()
            throws IOException {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 4);
        try (DynamicContentDisk disk = gen.disk().readahead(ReadaheadConfig.DEFAULT, Set.of("s3")).build()) {
            assertTrue(disk.describe().startsWith("stats > cow > readahead > redirect("), disk.describe());
        }
        try (DynamicContentDisk disk = gen.disk().readahead(ReadaheadConfig.DISABLED, Set.of("s3")).build()) {
            assertTrue(disk.describe().startsWith("stats > cow > redirect("), disk.describe());
        }
        try (DynamicContentDisk disk = gen.disk().readahead(ReadaheadConfig.DEFAULT, Set.of("local")).build()) {
            assertTrue(disk.describe().startsWith("stats > cow > readahead > redirect("), disk.describe());
        }
    }

    @Test
    void blockStatusReportsTheThinImagesHolesInsideMetadataAndNothingElseAsZero() throws IOException {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 5);
        try (RedirectPlugin redirect = plugin(gen)) {
            List<Extent> extents = redirect.extents(0, redirect.size());
            long pos = 0;
            long metadataHoleBytes = 0;
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            for (Extent e : extents) {
                assertEquals(pos, e.offset(), "extents cover the disk without gaps");
                pos = e.end();
                if (e.type() == Extent.Type.DATA) {
                    continue;
                }
                for (long at = e.offset(); at < e.end(); at += buf.capacity()) {
                    buf.clear().limit((int) Math.min(buf.capacity(), e.end() - at));
                    redirect.read(at, buf);
                    buf.flip();
                    assertTrue(Zeros.isZero(buf), "a hole reads as zeros at " + at);
                }
                for (RegionMap.Region r : gen.map.regions()) {
                    assertFalse(r.kind() == RegionMap.Kind.APP_DATA && r.start() < e.end() && e.offset() < r.end(),
                            "app data is never reported as a hole");
                    if (r.kind() == RegionMap.Kind.METADATA) {
                        metadataHoleBytes += Math.max(0, Math.min(r.end(), e.end()) - Math.max(r.start(), e.offset()));
                    }
                }
            }
            assertEquals(redirect.size(), pos);
            assertTrue(metadataHoleBytes >= 64 * 1024,
                    "declared but unwritten metadata is a hole of the sparse thin image: " + metadataHoleBytes);
            // Ranges inside a metadata region split exactly at the holes the scan found.
            MetadataZeros zeros = redirect.metadataZeros();
            assertTrue(zeros.holes() > 0);
            for (RegionMap.Region r : gen.map.regions()) {
                if (r.kind() != RegionMap.Kind.METADATA) {
                    continue;
                }
                for (Extent e : redirect.extents(r.start(), r.length())) {
                    assertEquals(e.type() == Extent.Type.HOLE, zeros.isHole(e.offset(), e.length()), e.toString());
                }
            }
        }
    }

    @Test
    void holeRangesAreSortedAndApart() {
        MetadataZeros z = MetadataZeros.ofHoles(new long[] {0, 8192}, new long[] {4096, 12288});
        assertEquals(0, z.firstEndingAfter(0));
        assertEquals(1, z.firstEndingAfter(4096));
        assertEquals(2, z.firstEndingAfter(12288));
        assertTrue(z.isHole(8192, 4096));
        assertFalse(z.isHole(4000, 200));
        assertEquals(8192, z.holeBytes());
        assertThrows(IllegalArgumentException.class, () -> MetadataZeros.ofHoles(new long[] {0, 4096}, new long[] {4096, 8192}));
    }
}
