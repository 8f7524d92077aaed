package dev.dcd.shell.interactive;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Expectations that turn a script into a test: each check prints {@code ok: ...} or fails like any command
 * (one line, exit 1), so a script stops at the first broken expectation and names its line.
 */
@Command(name = "check", description = "Fail unless an expectation holds (for scripts that are tests).",
        customSynopsis = {
                "check file PATH exists",
                "       check file PATH sha256 HEX",
                "       check fails COMMAND...",
                "       check exit N COMMAND...",
                "       check output COMMAND... contains TEXT"})
final class CheckCommand implements Callable<Integer> {
    private final ShellSession session;
    @Spec
    CommandSpec spec;
    @picocli.CommandLine.Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;
    @Parameters(arity = "1..*", paramLabel = "EXPECTATION")
    List<String> words;

    CheckCommand(ShellSession session) {
        this.session = session;
    }

    /** Failed expectations: an ordinary command failure, reported on one line. */
    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super("check failed: " + message);
        }
    }

    @Override
    public Integer call() throws Exception {
        // Nested commands run on a separate registry, but copy anyway: these words are all this check owns.
        List<String> w = List.copyOf(words);
        String kind = w.get(0);
        List<String> rest = w.subList(1, w.size());
        String passed = switch (kind) {
            case "file" -> file(rest);
            case "fails" -> fails(rest);
            case "exit" -> exit(rest);
            case "output" -> output(rest);
            default -> throw usage("unknown check '" + kind + "' (expected file, fails, exit or output)");
        };
        session.context().out().println("ok: " + passed);
        session.context().out().flush();
        return 0;
    }

    private String file(List<String> args) throws IOException {
        if (args.size() == 2 && args.get(1).equals("exists")) {
            Path path = Path.of(args.get(0));
            if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new CheckFailed(path + " does not exist");
            }
            return path + " exists";
        }
        if (args.size() == 3 && args.get(1).equals("sha256")) {
            Path path = Path.of(args.get(0));
            String expected = args.get(2).toLowerCase(Locale.ROOT);
            if (!expected.matches("[0-9a-f]{64}")) {
                throw usage("sha256 must be 64 hex digits, got '" + args.get(2) + "'");
            }
            if (!Files.isRegularFile(path)) {
                throw new CheckFailed(path + " is not a file");
            }
            String actual = sha256(path);
            if (!actual.equals(expected)) {
                throw new CheckFailed(path + " has sha256 " + actual + ", expected " + expected);
            }
            return path + " sha256 " + actual;
        }
        throw usage("expected 'check file PATH exists' or 'check file PATH sha256 HEX'");
    }

    private String fails(List<String> command) {
        requireCommand(command, "check fails COMMAND...");
        ShellSession.Captured r = session.capture(command);
        if (r.code() == 0) {
            throw new CheckFailed("'" + String.join(" ", command) + "' succeeded");
        }
        return "'" + String.join(" ", command) + "' failed (exit " + r.code() + "): " + r.firstErrorLine();
    }

    private String exit(List<String> args) {
        if (args.size() < 2 || !args.get(0).matches("\\d{1,3}")) {
            throw usage("expected 'check exit N COMMAND...'");
        }
        int expected = Integer.parseInt(args.get(0));
        List<String> command = args.subList(1, args.size());
        ShellSession.Captured r = session.capture(command);
        if (r.code() != expected) {
            throw new CheckFailed("'" + String.join(" ", command) + "' exited " + r.code() + ", expected " + expected
                    + (r.code() != 0 ? " (" + r.firstErrorLine() + ")" : ""));
        }
        return "'" + String.join(" ", command) + "' exited " + expected;
    }

    private String output(List<String> args) {
        int n = args.size();
        if (n < 3 || !args.get(n - 2).equals("contains")) {
            throw usage("expected 'check output COMMAND... contains TEXT'");
        }
        String text = args.get(n - 1);
        List<String> command = args.subList(0, n - 2);
        ShellSession.Captured r = session.capture(command);
        if (r.code() != 0) {
            throw new CheckFailed("'" + String.join(" ", command) + "' failed (exit " + r.code() + "): " + r.firstErrorLine());
        }
        if (!r.out().contains(text)) {
            throw new CheckFailed("output of '" + String.join(" ", command) + "' does not contain '" + text + "'");
        }
        return "output of '" + String.join(" ", command) + "' contains '" + text + "'";
    }

    private void requireCommand(List<String> command, String synopsis) {
        if (command.isEmpty()) {
            throw usage("expected '" + synopsis + "'");
        }
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    static String sha256(Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
