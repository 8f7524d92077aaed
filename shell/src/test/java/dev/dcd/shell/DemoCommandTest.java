package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The demo with the test synthesizer installed, so its build hook runs too. */
class DemoCommandTest {
    private static final Path SAMPLES = Path.of("..", "samples").toAbsolutePath().normalize();

    @TempDir
    Path temp;

    @Test
    void theDemoImportsThreeWaysAssignsBuildsAndRunsAgainWithoutRebuilding() throws Exception {
        CliHarness dcd = new CliHarness(temp.resolve("home"));
        String first = dcd.ok("demo", "--samples", SAMPLES.toString(), "--no-mount");
        assertTrue(first.contains("imported greet@1.0.0 from a .tar.gz: 5 files"), first);
        assertTrue(first.contains("imported handbook@0.3 from a .zip: 2 files"), first);
        assertTrue(first.contains("imported webapp@2.1.0 from a directory: 3 files"), first);
        assertTrue(first.contains("created VM demo (ext4, 1.0 GiB)"), first);
        assertTrue(first.contains("built demo generation 1: "), first);
        assertFalse(Files.exists(temp.resolve("home/tmp/demo")), "packed archives are cleaned up");

        String second = dcd.ok("demo", "--samples", SAMPLES.toString(), "--no-mount");
        assertTrue(second.contains("webapp@2.1.0 is already imported, skipping"), second);
        assertTrue(second.contains("VM demo exists, reusing it"), second);
        assertTrue(second.contains("handbook@0.3 is already assigned to demo"), second);
        assertTrue(second.contains("generation 1 is up to date"), "nothing changed, nothing rebuilt\n" + second);

        JsonNode vm = new ObjectMapper().readTree(dcd.ok("vm", "show", "demo", "--json"));
        assertEquals(3, vm.get("apps").size());
        assertEquals(1, vm.get("currentGeneration").asInt());
        assertEquals(10, vm.get("generations").get(0).get("fileCount").asInt());
    }

    @Test
    void aMissingSampleDirectoryIsOneLine() {
        CliHarness.Result r = new CliHarness(temp.resolve("home")).run("demo", "--samples", temp.resolve("none").toString());
        assertEquals(1, r.code());
        assertEquals("dcd: sample directory " + temp.resolve("none") + " does not exist (pass --samples DIR)\n", r.err());
    }
}
