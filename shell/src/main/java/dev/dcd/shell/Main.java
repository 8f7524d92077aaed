package dev.dcd.shell;

import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;

/** {@code dcd}: runs one command and exits 0 (ok), 1 (the command failed) or 2 (bad usage). */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        if (dev.dcd.shell.interactive.ShellMain.wants(args)) { // no command, 'shell' or --script FILE
            System.exit(dev.dcd.shell.interactive.ShellMain.main(args));
        }
        boolean terminal = System.console() != null;
        int code = run(args, System.out, System.err, System.getenv(), Clock.systemUTC(), terminal);
        System.exit(code);
    }

    /** Runs one command line with the given streams and environment; what tests call in-process. */
    public static int run(String[] args, OutputStream out, OutputStream err, Map<String, String> env, Clock clock,
                          boolean interactiveErr) {
        PrintWriter o = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), true);
        PrintWriter e = new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true);
        Context context = new Context(env, o, e, clock, interactiveErr);
        try {
            return Cli.commandLineFor(context, args).execute(args);
        } finally {
            try {
                context.close();
            } catch (Exception closing) {
                e.println("dcd: " + Cli.oneLine(closing));
            }
            o.flush();
            e.flush();
        }
    }
}
