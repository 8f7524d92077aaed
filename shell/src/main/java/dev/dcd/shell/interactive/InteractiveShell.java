package dev.dcd.shell.interactive;

import dev.dcd.concurrent.Uninterruptibly;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The interactive shell: a JLine line reader with completion and persistent history in front of a
 * {@link ShellSession}. Each command runs on a worker thread so that Ctrl-C interrupts the command and
 * leaves the shell; at the prompt Ctrl-C clears the line and Ctrl-D (or {@code exit}) leaves.
 *
 * <p>Mounts started from the shell are separate serving processes and stay mounted when the shell exits;
 * the shell says which ones, so that nothing is left behind unnoticed.
 */
final class InteractiveShell {
    private final Terminal terminal;
    private final ShellSession session;
    private final LineReader reader;

    InteractiveShell(Terminal terminal, ShellSession session) {
        this.terminal = terminal;
        this.session = session;
        this.reader = reader(terminal, session, historyFile(session));
    }

    /** The line reader the shell uses; tests drive it through a terminal of their own. */
    static LineReader reader(Terminal terminal, ShellSession session, Path history) {
        LineReaderBuilder builder = LineReaderBuilder.builder().terminal(terminal).appName("dcd")
                .parser(Words.parser())
                .completer(new DcdCompleter(session))
                .variable(LineReader.SECONDARY_PROMPT_PATTERN, "%M> ")
                .variable(LineReader.HISTORY_SIZE, 5000)
                .variable(LineReader.HISTORY_FILE_SIZE, 5000)
                // '!' is a normal character in app names and paths, not history expansion.
                .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true)
                .option(LineReader.Option.HISTORY_IGNORE_DUPS, true);
        if (history != null) {
            builder.variable(LineReader.HISTORY_FILE, history);
        }
        return builder.build();
    }

    private static Path historyFile(ShellSession session) {
        Path home = session.context().home();
        try {
            Files.createDirectories(home);
            return home.resolve("history");
        } catch (IOException e) {
            session.context().err().println("dcd: warning: no history (" + e.getMessage() + ")");
            return null;
        }
    }

    LineReader reader() {
        return reader;
    }

    String prompt() {
        return session.currentVm().map(vm -> "dcd[" + vm + "]> ").orElse("dcd> ");
    }

    /** Reads and runs commands until Ctrl-D or exit; returns the exit code of the last command. */
    int run() {
        SortedSet<String> mountsBefore = Mounts.list(session.context().home());
        int last = 0;
        while (true) {
            String line;
            try {
                line = reader.readLine(prompt());
            } catch (UserInterruptException e) {
                continue;
            } catch (EndOfFileException e) {
                break;
            }
            if (line.strip().startsWith("#")) {
                continue; // as in scripts, so a pasted script behaves the same
            }
            List<String> words;
            try {
                words = Words.split(Words.expand(line, session.context().env()));
            } catch (ShellSyntaxException e) {
                session.context().err().println("dcd: " + e.getMessage());
                session.context().err().flush();
                last = 2;
                continue;
            }
            if (!words.isEmpty() && ShellSession.EXIT.contains(words.get(0))) {
                break;
            }
            last = runCancellable(words);
        }
        try {
            reader.getHistory().save();
        } catch (IOException e) {
            session.context().err().println("dcd: warning: history not saved: " + e.getMessage());
        }
        reportMounts(mountsBefore, session.context().out());
        return last;
    }

    /** Runs a command on a worker thread; Ctrl-C meanwhile interrupts that thread, not the shell. */
    private int runCancellable(List<String> words) {
        int[] code = {0};
        Thread worker = new Thread(() -> code[0] = session.execute(words), "dcd-command");
        Terminal.SignalHandler previous = terminal.handle(Terminal.Signal.INT, signal -> {
            session.markCancelled();
            worker.interrupt();
        });
        try {
            worker.start();
            Uninterruptibly.join(worker);
        } finally {
            terminal.handle(Terminal.Signal.INT, previous);
        }
        return code[0];
    }

    /** Says which mounts this shell started that are still running. */
    void reportMounts(SortedSet<String> before, PrintWriter out) {
        SortedSet<String> started = new TreeSet<>(Mounts.list(session.context().home()));
        started.removeAll(before);
        if (!started.isEmpty()) {
            out.println(started.size() + (started.size() == 1 ? " mount" : " mounts") + " left running: "
                    + String.join(", ", started) + "; use 'umount'");
            out.flush();
        }
    }
}
