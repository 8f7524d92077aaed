package dev.dcd.tests.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A benchmark figure comes from the bytes really read, so a short read cannot make a mount look faster. */
class FuseReadsTest {
    @TempDir
    Path tree;

    @Test
    void readAllCountsTheBytesItReadAndAShortPassFailsTheFigure() throws Exception {
        Files.write(tree.resolve("a"), new byte[3 << 20]);
        Files.write(tree.resolve("b"), new byte[12345]);
        List<String> files = FuseReads.list(tree);
        long total = (3 << 20) + 12345;

        assertEquals(total, FuseReads.readAll(tree, files, 1));
        assertEquals(total, FuseReads.readAll(tree, files, 4));
        assertTrue(FuseReads.mibPerSecond(total, () -> FuseReads.readAll(tree, files, 2)) > 0);

        // Served one byte short of what the tree holds: no figure.
        AssertionError e = assertThrows(AssertionError.class,
                () -> FuseReads.mibPerSecond(total + 1, () -> FuseReads.readAll(tree, files, 2)));
        assertTrue(e.getMessage().contains("read " + total + " bytes, not the " + (total + 1)), e.getMessage());
    }
}
