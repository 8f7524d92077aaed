package dev.dcd.shell.interactive;

import dev.dcd.shell.Cli;
import dev.dcd.shell.Context;
import dev.dcd.shell.Table;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;

/**
 * Entry to the shell: {@code dcd} with no command or {@code dcd shell} reads commands from the terminal
 * (or, when stdin is not a terminal, runs them as a script); {@code dcd --script FILE} runs a file.
 * Accepted around those: {@code --home DIR}, {@code --debug}, {@code --keep-going} (scripts).
 */
public final class ShellMain {
    private ShellMain() {
    }

    /** What the command line asks of the shell. */
    record Options(Path home, boolean debug, boolean keepGoing, String script) {
        /** The options, or empty when the arguments are a one-shot command for the CLI. */
        static Optional<Options> parse(String[] args) {
            Path home = null;
            boolean debug = false;
            boolean keepGoing = false;
            String script = null;
            boolean shellWord = false;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--debug")) {
                    debug = true;
                } else if (a.equals("--keep-going")) {
                    keepGoing = true;
                } else if ((a.equals("--home") || a.equals("--script")) && i + 1 < args.length) {
                    if (a.equals("--home")) {
                        home = Path.of(args[++i]);
                    } else {
                        script = args[++i];
                    }
                } else if (a.startsWith("--home=")) {
                    home = Path.of(a.substring("--home=".length()));
                } else if (a.startsWith("--script=")) {
                    script = a.substring("--script=".length());
                } else if (a.equals("shell") && !shellWord) {
                    shellWord = true;
                } else {
                    return Optional.empty();
                }
            }
            return Optional.of(new Options(home, debug, keepGoing, script));
        }
    }

    /** True when these arguments start the shell or a script rather than one command. */
    public static boolean wants(String[] args) {
        return Options.parse(args).isPresent();
    }

    /** The process entry: a real terminal when stdin and stdout are one, else script mode on stdin. */
    public static int main(String[] args) {
        Options options = Options.parse(args).orElseThrow();
        Map<String, String> env = System.getenv();
        Clock clock = Clock.systemUTC();
        if (options.script() == null && System.console() != null) {
            try (Terminal terminal = TerminalBuilder.builder().system(true).build()) {
                return interactive(options, terminal, System.err, env, clock);
            } catch (IOException e) {
                System.err.println("dcd: cannot open the terminal: " + e.getMessage());
                return Cli.FAILED;
            }
        }
        return script(options, System.in, System.out, System.err, env, clock);
    }

    /** Runs the interactive shell on {@code terminal}; errors and progress go to {@code err}. */
    static int interactive(Options options, Terminal terminal, OutputStream err, Map<String, String> env, Clock clock) {
        Redirect out = new Redirect(terminal.writer());
        Redirect errors = new Redirect(new OutputStreamWriter(err, StandardCharsets.UTF_8));
        boolean dumb = terminal.getType().startsWith(Terminal.TYPE_DUMB);
        PrintWriter o = new Table.TerminalWriter(out, terminal::getWidth);
        PrintWriter e = new Table.TerminalWriter(errors, terminal::getWidth);
        Context context = new Context(env, o, e, clock, !dumb);
        try (ShellSession session = open(context, options, out, errors)) {
            if (session == null) {
                return Cli.USAGE;
            }
            return new InteractiveShell(terminal, session).run();
        } catch (IOException ex) {
            e.println("dcd: " + ShellSession.oneLine(ex));
            e.flush();
            return Cli.FAILED;
        }
    }

    /** Runs the interactive shell on a terminal the caller made; what the launcher's warm-up drives. */
    public static int runInteractive(Terminal terminal, OutputStream stderr, Map<String, String> env) {
        return interactive(new Options(null, false, false, null), terminal, stderr, env, Clock.systemUTC());
    }

    /** Runs the commands read from {@code stdin} as a script; what the launcher's warm-up drives. */
    public static int runScript(InputStream stdin, OutputStream stdout, OutputStream stderr, Map<String, String> env) {
        return script(new Options(null, false, false, null), stdin, stdout, stderr, env, Clock.systemUTC());
    }

    /** Runs a script from {@code options.script()}, or from {@code stdin} when there is none. */
    static int script(Options options, InputStream stdin, OutputStream stdout, OutputStream stderr,
                      Map<String, String> env, Clock clock) {
        Redirect out = new Redirect(new OutputStreamWriter(stdout, StandardCharsets.UTF_8));
        Redirect errors = new Redirect(new OutputStreamWriter(stderr, StandardCharsets.UTF_8));
        // Width 0: scripts and pipes get whole table rows; progress bars stay off (not interactive).
        PrintWriter o = new Table.TerminalWriter(out, () -> 0);
        PrintWriter e = new Table.TerminalWriter(errors, () -> 0);
        Context context = new Context(env, o, e, clock, false);
        try (ShellSession session = open(context, options, out, errors)) {
            if (session == null) {
                return Cli.USAGE;
            }
            ScriptRunner runner = new ScriptRunner(session, e, options.keepGoing());
            if (options.script() == null) {
                return runner.run(new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8)), "<stdin>");
            }
            try (BufferedReader in = Files.newBufferedReader(Path.of(options.script()), StandardCharsets.UTF_8)) {
                return runner.run(in, options.script());
            } catch (NoSuchFileException ex) {
                e.println("dcd: no such script: " + options.script());
                return Cli.USAGE;
            }
        } catch (IOException ex) {
            e.println("dcd: " + ShellSession.oneLine(ex));
            return Cli.FAILED;
        } finally {
            o.flush();
            e.flush();
        }
    }

    private static ShellSession open(Context context, Options options, Redirect out, Redirect err) {
        if (options.home() != null) {
            context.setHome(options.home());
        }
        context.setDebug(options.debug());
        return new ShellSession(context, out, err, options.debug());
    }
}
