package dev.dcd.shell;

import dev.dcd.shell.interactive.ShellMain;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.DumbTerminal;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The training run behind the launcher's class-data-sharing archive: {@code ./dcd} runs this once per
 * build under {@code -XX:DumpLoadedClassList} and archives the classes it loaded ({@code -Xshare:dump}), and
 * every later start maps them instead of reading, parsing and verifying them from the jar. It runs the
 * everyday commands in this JVM against a throw-away home (a tiny app imported, a VM built, listed and shown,
 * the shell reading a script and typed lines), so the archive holds what those commands load; nothing outside
 * that home is touched. A command that fails here only leaves its classes out of the archive, so failures are
 * counted, not fatal.
 */
public final class Warmup {
    private Warmup() {
    }

    public static void main(String[] args) throws IOException {
        Path home = Files.createTempDirectory("dcd-warmup-");
        try {
            int failed = run(home);
            if (failed > 0) {
                System.err.println("dcd: warm-up: " + failed + " command(s) failed; the archive covers the rest");
            }
        } finally {
            deleteTree(home);
        }
    }

    /** Runs the commands against {@code home}; returns how many failed. */
    static int run(Path home) throws IOException {
        Path app = Files.createDirectories(home.resolve("src/hello-1.0/bin"));
        Files.writeString(app.resolve("hello"), "#!/bin/sh\necho hello\n");
        Files.createDirectories(home.resolve("src/hello-1.0/share/doc/hello"));
        Files.writeString(home.resolve("src/hello-1.0/share/doc/hello/README"), "hello\n".repeat(1000));
        Map<String, String> env = new HashMap<>(System.getenv());
        env.put("DCD_HOME", home.resolve("home").toString());
        List<List<String>> commands = List.of(
                List.of("--help"),
                List.of("catalog", "list"),
                List.of("catalog", "import", home.resolve("src/hello-1.0").toString(), "--name", "hello", "--version", "1.0"),
                List.of("catalog", "list"),
                List.of("catalog", "list", "--json"),
                List.of("catalog", "show", "hello"),
                List.of("backend", "list"),
                List.of("vm", "create", "w", "--size", "64M"),
                List.of("vm", "assign", "w", "hello"),
                List.of("vm", "list"),
                List.of("vm", "show", "w"),
                List.of("disk", "build", "w"),
                List.of("disk", "stat", "w"),
                List.of("disk", "generations", "w"),
                List.of("vm", "show", "w", "--json"),
                List.of("stats"),
                List.of("help", "vm"));
        int failed = 0;
        for (List<String> command : commands) {
            int code = Main.run(command.toArray(String[]::new), OutputStream.nullOutputStream(),
                    OutputStream.nullOutputStream(), env, Clock.systemUTC(), false);
            failed += code == Cli.OK ? 0 : 1;
        }
        // The shell's start: its whole command tree, completion model and script runner.
        byte[] script = "vm list\ncatalog list\n".getBytes(StandardCharsets.UTF_8);
        int code = ShellMain.runScript(new ByteArrayInputStream(script), OutputStream.nullOutputStream(),
                OutputStream.nullOutputStream(), env);
        failed += code == Cli.OK ? 0 : 1;
        // The interactive shell: JLine's terminal, line reader, history and prompt, on a terminal of bytes
        // (the system terminal needs a tty, which a training run does not have).
        byte[] keys = "vm list\nexit\n".getBytes(StandardCharsets.UTF_8);
        // A dumb terminal: TerminalBuilder with streams opens a pty and pumps it on a thread of its own.
        try (Terminal terminal = new DumbTerminal("dcd-warmup", "ansi", new ByteArrayInputStream(keys),
                OutputStream.nullOutputStream(), StandardCharsets.UTF_8)) {
            terminal.setSize(new Size(120, 40));
            code = ShellMain.runInteractive(terminal, OutputStream.nullOutputStream(), env);
        }
        return failed + (code == Cli.OK ? 0 : 1);
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
