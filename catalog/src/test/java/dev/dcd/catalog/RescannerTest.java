package dev.dcd.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RescannerTest {
    @TempDir
    Path temp;

    @Test
    void aWipedCatalogIsRebuiltFromTheBackendAlone() throws IOException {
        Path home = temp.resolve("home");
        List<AppVersion> original;
        try (Fixture fx = new Fixture(home)) {
            Path a = Files.createDirectories(temp.resolve("alpha-1.0/bin"));
            Files.writeString(a.resolve("run"), "alpha");
            fx.importSource(a.getParent());
            Path b = new Archives.Tar().file("x", "beta").write(temp.resolve("beta-2.tar"));
            fx.importSource(b);
            original = fx.catalog.apps();
        }
        try (Stream<Path> walk = Files.walk(home.resolve("catalog"))) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        try (Fixture fx = new Fixture(home)) {
            assertTrue(fx.catalog.apps().isEmpty());
            List<String> warnings = new ArrayList<>();
            List<AppVersion> added = new Rescanner(fx.catalog, fx::backend).rescan(null, warnings::add);
            assertEquals(2, added.size());
            assertEquals(List.of(), warnings);
            List<AppVersion> rebuilt = fx.catalog.apps();
            assertEquals(original.size(), rebuilt.size());
            for (int i = 0; i < original.size(); i++) {
                AppVersion o = original.get(i);
                AppVersion r = rebuilt.get(i);
                assertEquals(o.label(), r.label());
                assertEquals(o.contentId(), r.contentId());
                assertEquals(o.fileCount(), r.fileCount());
                assertEquals(o.byteCount(), r.byteCount());
                assertEquals(o.vdiskBytes(), r.vdiskBytes());
            }
            assertEquals(List.of(), new Rescanner(fx.catalog, fx::backend).rescan("local", warnings::add),
                    "a second rescan finds nothing new");
        }
    }

    @Test
    void aDamagedObjectIsSkippedWithAWarning() throws IOException {
        try (Fixture fx = new Fixture(temp.resolve("home"))) {
            Files.createDirectories(fx.vdisks);
            Files.writeString(fx.vdisks.resolve("c".repeat(64) + ".vdisk"), "not a vdisk");
            List<String> warnings = new ArrayList<>();
            assertEquals(List.of(), new Rescanner(fx.catalog, fx::backend).rescan(null, warnings::add));
            assertEquals(1, warnings.size());
            assertTrue(warnings.get(0).startsWith("skipped local:cccccccccccc: "), warnings.get(0));
        }
    }
}
