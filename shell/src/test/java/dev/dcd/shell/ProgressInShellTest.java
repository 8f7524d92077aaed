package dev.dcd.shell;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
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

    private static Context context(boolean terminal, int width) {
        PrintWriter err = new Table.TerminalWriter(new StringWriter(), () -> width);
        return new Context(Map.of(), new PrintWriter(new StringWriter()), err, Clock.systemUTC(), terminal);
    }

    private void work(Context context) throws InterruptedException {
        try (ProgressReporter progress = new ProgressReporter(context, "build", 100L << 20)) {
            progress.advance(1L << 20);
            Thread.sleep(1200); // past the delay before a bar appears
            progress.advance(50L << 20);
            progress.advance(100L << 20);
        }
    }

    @Test
    void inTheShellABarIsDrawnWithinTheTerminalWidth() throws InterruptedException {
        work(context(true, 70));
        String drawn = stderr.toString(StandardCharsets.UTF_8);
        assertTrue(drawn.contains("build 100%"), drawn);
        for (String frame : drawn.split("[\r\n]")) {
            assertTrue(frame.length() <= 69, "frame wider than the terminal: '" + frame + "'");
        }
    }

    @Test
    void inScriptsAndPipesNoBarIsDrawn() throws InterruptedException {
        work(context(false, 0));
        assertEquals("", stderr.toString(StandardCharsets.UTF_8));
    }
}
