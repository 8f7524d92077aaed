package dev.dcd.shell;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code dcd --help} prints a stored copy of picocli's top-level help, so that it starts no command model at
 * all. The copy is a source file; this test says when it no longer matches what picocli prints (a command was
 * added, renamed or described differently) and rewrites it when asked:
 * <pre>
 * mvn -o -B -pl shell -am test -Dtest=TopLevelHelpTest -Dsurefire.failIfNoSpecifiedTests=false -Ddcd.help.update=true
 * </pre>
 */
class TopLevelHelpTest {
    /** The stored text in the source tree (tests run in the module's directory). */
    static final Path STORED = Path.of("src/main/resources").resolve(Main.TOP_LEVEL_HELP.substring(1));
    static final String REGENERATE = "mvn -o -B -pl shell -am test -Dtest=TopLevelHelpTest "
            + "-Dsurefire.failIfNoSpecifiedTests=false -Ddcd.help.update=true";

    @TempDir
    Path home;

    @Test
    void theStoredTopLevelHelpIsWhatPicocliPrints() throws IOException {
        CliHarness.Result generated = new CliHarness(home).run("--help");
        assertEquals(0, generated.code(), generated.toString());
        if (Boolean.getBoolean("dcd.help.update")) {
            Files.writeString(STORED, generated.out(), StandardCharsets.UTF_8);
        }

        assertTrue(Files.isRegularFile(STORED), STORED.toAbsolutePath() + " is missing; create it with: " + REGENERATE);
        assertEquals(generated.out(), Files.readString(STORED, StandardCharsets.UTF_8),
                "the stored top-level help " + STORED + " differs from picocli's (a command was added, renamed or "
                        + "described differently); regenerate it with: " + REGENERATE + " and commit the file");
    }

    @Test
    void dashDashHelpAndDashHPrintTheStoredTextAndNothingElse() throws IOException {
        assumeFalse(Boolean.getBoolean("dcd.help.update"), "the class path still holds the old copy while updating");
        String stored = Files.readString(STORED, StandardCharsets.UTF_8);
        for (String option : new String[] {"--help", "-h"}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();

            assertTrue(Main.printStoredHelp(new String[] {option}, out), option);

            assertEquals(stored, out.toString(StandardCharsets.UTF_8), option);
        }
    }

    @Test
    void anyOtherCommandLineGoesToPicocli() {
        String[][] lines = {{}, {"help"}, {"--help", "catalog"}, {"catalog", "--help"}, {"--version"}, {"--json", "--help"}};
        for (String[] line : lines) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();

            assertTrue(!Main.printStoredHelp(line, out) && out.size() == 0, String.join(" ", line));
        }
    }
}
