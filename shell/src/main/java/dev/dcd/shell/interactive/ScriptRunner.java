package dev.dcd.shell.interactive;

import dev.dcd.shell.Cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;

/**
 * Script mode: one command per line, {@code #} comment lines and blank lines skipped, a trailing backslash
 * continues a command on the next line, {@code ${VAR}} from the environment. The first failing command stops
 * the script with its exit code and {@code NAME:LINE: error} on stderr; with keep-going every line runs and
 * the exit code is that of the first failure.
 */
final class ScriptRunner {
    private final ShellSession session;
    private final PrintWriter err;
    private final boolean keepGoing;

    ScriptRunner(ShellSession session, PrintWriter err, boolean keepGoing) {
        this.session = session;
        this.err = err;
        this.keepGoing = keepGoing;
    }

    int run(BufferedReader in, String name) throws IOException {
        int lineNumber = 0;
        int firstFailure = Cli.OK;
        String line;
        while ((line = in.readLine()) != null) {
            lineNumber++;
            int start = lineNumber;
            StringBuilder text = new StringBuilder(line);
            while (Words.continues(text.toString()) && !text.toString().strip().startsWith("#")) {
                String next = in.readLine();
                if (next == null) {
                    break;
                }
                lineNumber++;
                text.setLength(text.length() - 1);
                text.append(' ').append(next);
            }
            String command = text.toString().strip();
            if (command.isEmpty() || command.startsWith("#")) {
                continue;
            }
            int code;
            String error;
            try {
                List<String> words = Words.split(Words.expand(command, session.context().env()));
                if (!words.isEmpty() && ShellSession.EXIT.contains(words.get(0))) {
                    return words.size() > 1 ? exitCode(words.get(1), firstFailure) : firstFailure;
                }
                ShellSession.Captured result = session.executeHoldingErrors(words);
                code = result.code();
                error = result.firstErrorLine();
                if (code == Cli.OK || session.debug()) {
                    // Warnings of a passing command, or the full trace when debugging: shown as they are.
                    err.print(result.err());
                }
            } catch (ShellSyntaxException e) {
                code = Cli.USAGE;
                error = e.getMessage();
            }
            if (code != Cli.OK) {
                err.println(name + ":" + start + ": " + error);
                err.flush();
                if (firstFailure == Cli.OK) {
                    firstFailure = code;
                }
                if (!keepGoing) {
                    return code;
                }
            }
        }
        return firstFailure;
    }

    private static int exitCode(String word, int otherwise) {
        try {
            return Integer.parseInt(word);
        } catch (NumberFormatException e) {
            return otherwise;
        }
    }
}
