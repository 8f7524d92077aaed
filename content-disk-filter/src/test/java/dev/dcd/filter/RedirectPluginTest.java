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
}
