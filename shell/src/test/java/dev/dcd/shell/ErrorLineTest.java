package dev.dcd.shell;

import dev.dcd.catalog.CatalogException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whatever is thrown, the user reads one line in dcd's words: never "null", never the JDK's own text. */
class ErrorLineTest {

    @Test
    void aMessageDcdWroteIsShownAsItIs() {
        assertEquals("app 'x' is not in the catalog", ErrorLine.of(new CatalogException("app 'x' is not in the catalog")));
        assertEquals("disk size must be at least 16M", ErrorLine.of(new IllegalArgumentException("disk size must be at least 16M")));
    }

    @Test
    void aMessageBuiltAroundAMissingInnerMessageDropsTheNull() {
        assertEquals("cannot mount VM vc", ErrorLine.of(new CatalogException("cannot mount VM vc: null")));
    }

    @Test
    void programmingErrorsBecomeInternalErrorWithoutTheirJdkText() {
        List<Throwable> odd = List.of(
                new NullPointerException(),
                npeWithHelpfulMessage(),
                indexOutOfBounds(),
                new ClassCastException("class java.lang.String cannot be cast to class java.lang.Integer"),
                new ArithmeticException("/ by zero"),
                numberFormat(),
                new IllegalStateException((String) null),
                new RuntimeException("null"),
                new OutOfMemoryError("Java heap space"),
                new StackOverflowError());
        for (Throwable e : odd) {
            String line = ErrorLine.of(e);
            assertTrue(line.contains("internal error") && line.contains("--debug"), e + " -> " + line);
            assertClean(line, e);
        }
    }

    @Test
    void fileSystemFailuresArePutInPlainWords() {
        assertEquals("/data/x.tar: no such file or directory", ErrorLine.of(new NoSuchFileException("/data/x.tar")));
        assertEquals("/data/x.tar: permission denied", ErrorLine.of(new AccessDeniedException("/data/x.tar")));
        assertEquals("/h/catalog/MANIFEST: No space left on device",
                ErrorLine.of(new FileSystemException("/h/catalog/MANIFEST", null, "No space left on device")));
        assertEquals("I/O error", ErrorLine.of(new FileSystemException(null)));
        assertEquals("I/O error: Broken pipe", ErrorLine.of(ioFromJdk("Broken pipe")));
        assertTrue(ErrorLine.of(new IOException()).startsWith("I/O error; run again with --debug"));
    }

    @Test
    void wrappersAreSeenThrough() {
        CatalogException cause = new CatalogException("VM web1 has no disk; run 'dcd disk build web1'");
        for (Throwable wrapped : List.of(new ExecutionException(cause), new CompletionException(cause),
                new UncheckedIOException(cause), new picocli.CommandLine.ExecutionException(
                        new picocli.CommandLine(new Boom()), "Error while calling command", cause),
                new ExecutionException(new CompletionException(cause)))) {
            assertEquals(cause.getMessage(), ErrorLine.of(wrapped), wrapped.toString());
        }
        assertTrue(ErrorLine.of(new ExecutionException(new NullPointerException())).contains("internal error"));
    }

    @Test
    void oneLineAtMostFourHundredCharactersSoAHugeNameIsCut() {
        String name = "a".repeat(5000);
        String line = ErrorLine.of(new CatalogException("app '" + name + "' is not in the catalog\nsecond line"));
        assertEquals(ErrorLine.MAX_LENGTH + 1, line.length());
        assertTrue(line.endsWith("…"));
        assertEquals("abc…", ErrorLine.cut("abcdef", 3));
        assertEquals("abc", ErrorLine.cut("abc", 3));
    }

    @Test
    void aCommandThatThrowsABugShowsOneCleanLineAndTheTraceOnlyWithDebug() {
        // A command with a bug (an NPE) stands in for any: picocli calls it like the real ones.
        Context quiet = context(false);
        picocli.CommandLine cl = Cli.commandLine(quiet);
        cl.addSubcommand("boom", new Boom());
        assertEquals(Cli.FAILED, cl.execute("boom"));
        String err = errOf(quiet);
        assertEquals("dcd: " + ErrorLine.INTERNAL, err.strip());

        Context debug = context(true);
        picocli.CommandLine withDebug = Cli.commandLine(debug);
        withDebug.addSubcommand("boom", new Boom());
        assertEquals(Cli.FAILED, withDebug.execute("--debug", "boom"));
        assertTrue(errOf(debug).contains("at dev.dcd.shell.ErrorLineTest$Boom.call"), errOf(debug));
    }

    @picocli.CommandLine.Command(name = "boom")
    static final class Boom implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            Map<String, String> none = Map.of();
            return none.get("x").length();
        }
    }

    private final Map<Context, ByteArrayOutputStream> errs = new java.util.HashMap<>();

    private Context context(boolean debug) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Context c = new Context(Map.of("HOME", "/nonexistent"), new java.io.PrintWriter(new ByteArrayOutputStream(), true),
                new java.io.PrintWriter(new java.io.OutputStreamWriter(err, StandardCharsets.UTF_8), true), Clock.systemUTC(), false);
        errs.put(c, err);
        return c;
    }

    private String errOf(Context c) {
        c.err().flush();
        return errs.get(c).toString(StandardCharsets.UTF_8);
    }

    private static void assertClean(String line, Throwable e) {
        assertFalse(line.matches(".*\\bnull\\b.*"), e + " -> " + line);
        assertFalse(line.contains("Exception") || line.contains("Error:") || line.contains("java."), e + " -> " + line);
        assertFalse(line.contains("out of bounds") || line.contains("For input string") || line.contains("Cannot invoke"), line);
    }

    private static Throwable npeWithHelpfulMessage() {
        try {
            String s = System.getProperty("dcd.no.such.property");
            return new IllegalStateException("unreachable " + s.length());
        } catch (NullPointerException e) {
            return e;
        }
    }

    private static Throwable indexOutOfBounds() {
        try {
            int[] three = new int[3];
            return new IllegalStateException("unreachable " + three[90]);
        } catch (ArrayIndexOutOfBoundsException e) {
            return e;
        }
    }

    private static Throwable numberFormat() {
        try {
            return new IllegalStateException("unreachable " + Integer.parseInt("12x"));
        } catch (NumberFormatException e) {
            return e;
        }
    }

    /** An IOException as the JDK throws it: its innermost frame is not dcd's. */
    private static IOException ioFromJdk(String message) {
        IOException e = new IOException(message);
        e.setStackTrace(new StackTraceElement[]{new StackTraceElement("sun.nio.ch.FileDispatcherImpl", "write0", null, -1)});
        return e;
    }
}
