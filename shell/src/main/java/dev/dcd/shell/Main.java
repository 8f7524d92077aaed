package dev.dcd.shell;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;

/** {@code dcd}: runs one command and exits 0 (ok), 1 (the command failed) or 2 (bad usage). */
public final class Main {
    /**
     * picocli's top-level help as text, stored at build time ({@code TopLevelHelpTest} checks it and rewrites
     * it with {@code -Ddcd.help.update=true}): {@code dcd --help} prints it without building any command model.
     */
    static final String TOP_LEVEL_HELP = "/dev/dcd/shell/top-level-help.txt";

    private Main() {
    }

    public static void main(String[] args) {
        if (printStoredHelp(args, System.out)) {
            System.exit(Cli.OK);
        }
        if (dev.dcd.shell.interactive.ShellMain.wants(args)) { // no command, 'shell' or --script FILE
            System.exit(dev.dcd.shell.interactive.ShellMain.main(args));
        }
        boolean terminal = System.console() != null;
        int code = run(args, System.out, System.err, System.getenv(), Clock.systemUTC(), terminal);
        System.exit(code);
    }

    /**
     * Prints the stored top-level help when the whole command line is {@code --help} or {@code -h}; returns
     * false (printing nothing) for any other line, or when the stored text is missing, so picocli answers.
     */
    static boolean printStoredHelp(String[] args, OutputStream out) {
        if (args.length != 1 || !(args[0].equals("--help") || args[0].equals("-h"))) {
            return false;
        }
        try (InputStream in = Main.class.getResourceAsStream(TOP_LEVEL_HELP)) {
            if (in == null) {
                return false;
            }
            byte[] text = in.readAllBytes();
            out.write(text);
            out.flush();
            return true;
        } catch (IOException e) {
            return false;
        }
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
