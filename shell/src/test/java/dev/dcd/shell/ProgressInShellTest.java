package dev.dcd.shell;

import dev.dcd.testing.ManualClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Progress bars inside the interactive shell: drawn on its terminal, at its width; never in scripts. */
class ProgressInShellTest {
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private PrintStream savedErr;

    @BeforeEach
    void captureStderr() {
        savedErr = System.err;
        System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreStderr() {
        System.setErr(savedErr);
    }

    private final ManualClock clock = new ManualClock(Instant.parse("2026-01-02T03:04:05Z"));

    private Context context(boolean terminal, int width) {
        PrintWriter err = new Table.TerminalWriter(new StringWriter(), () -> width);
        return new Context(Map.of(), new PrintWriter(new StringWriter()), err, clock, terminal);
    }

    /** Work that takes {@code elapsed} on the context's clock between its first and later steps. */
    private void work(Context context, Duration elapsed) {
        try (ProgressReporter progress = new ProgressReporter(context, "build", 100L << 20)) {
            progress.advance(1L << 20);
            clock.advance(elapsed);
            progress.advance(50L << 20);
            progress.advance(100L << 20);
        }
    }

    @Test
    void inTheShellABarIsDrawnWithinTheTerminalWidth() {
        work(context(true, 70), Duration.ofMillis(ProgressReporter.DELAY_MILLIS));
        String drawn = stderr.toString(StandardCharsets.UTF_8);
        assertTrue(drawn.contains("build 100%"), drawn);
        for (String frame : drawn.split("[\r\n]")) {
            assertTrue(frame.length() <= 69, "frame wider than the terminal: '" + frame + "'");
        }
    }

    @Test
    void workThatEndsWithinASecondDrawsNoBarEvenOnATerminal() {
        work(context(true, 70), Duration.ofMillis(ProgressReporter.DELAY_MILLIS - 1));
        assertEquals("", stderr.toString(StandardCharsets.UTF_8));
    }

    @Test
    void inScriptsAndPipesNoBarIsDrawn() {
        work(context(false, 0), Duration.ofSeconds(60));
        assertEquals("", stderr.toString(StandardCharsets.UTF_8));
    }
}
