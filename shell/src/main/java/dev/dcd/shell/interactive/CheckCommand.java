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
                "       check output COMMAND... contains TEXT",
                "       check reader NAME FIELD OP NUMBER",
                "       check backend APP[@VER] is BACKEND"},
        footerHeading = "%nReader fields:%n",
        footer = {"  reads, bytes, verified, passes, errors, stall-ms, longest-read-ms, longest-gap-ms, p50-ms, p99-ms,",
                "  elapsed-ms, stuck-threads (see 'reader status NAME'); OP is one of == != < <= > >="})
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
            case "reader" -> reader(rest);
            case "backend" -> backend(rest);
            default -> throw usage("unknown check '" + kind + "' (expected file, fails, exit, output, reader or backend)");
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

    /** {@code NAME FIELD OP NUMBER} on the figures of a reader of this session, running or stopped. */
    private String reader(List<String> args) {
        if (args.size() != 4) {
            throw usage("expected 'check reader NAME FIELD OP NUMBER', e.g. 'check reader r1 errors == 0'");
        }
        String field = args.get(1);
        var extract = ReaderCommand.FIELDS.get(field);
        if (extract == null) {
            throw usage("unknown reader field '" + field + "' (expected one of " + String.join(", ", ReaderCommand.FIELDS.keySet()) + ")");
        }
        Comparison op = Comparison.parse(args.get(2)).orElseThrow(() -> usage("unknown comparison '" + args.get(2)
                + "' (expected ==, !=, <, <=, > or >=)"));
        double expected;
        try {
            expected = Double.parseDouble(args.get(3));
        } catch (NumberFormatException e) {
            throw usage("'" + args.get(3) + "' is not a number");
        }
        Readers.Entry entry = session.readers().get(args.get(0));
        BackgroundReader.Figures figures = entry.reader().figures();
        double actual = extract.applyAsDouble(figures);
        String what = "reader " + entry.name() + " " + field + " " + number(actual);
        if (!op.holds(actual, expected)) {
            throw new CheckFailed(what + ", expected " + op.symbol() + " " + args.get(3)
                    + (figures.firstError() != null ? " (first error: " + figures.firstError() + ")" : ""));
        }
        return what + " " + op.symbol() + " " + args.get(3);
    }

    private static String number(double value) {
        return value == Math.rint(value) && Math.abs(value) < 1e15 ? Long.toString((long) value) : Double.toString(value);
    }

    /** The comparisons {@code check reader} understands. */
    enum Comparison {
        EQ("=="), NE("!="), LT("<"), LE("<="), GT(">"), GE(">=");

        private final String symbol;

        Comparison(String symbol) {
            this.symbol = symbol;
        }

        String symbol() {
            return symbol;
        }

        static java.util.Optional<Comparison> parse(String text) {
            for (Comparison c : values()) {
                if (c.symbol.equals(text)) {
                    return java.util.Optional.of(c);
                }
            }
            return java.util.Optional.empty();
        }

        boolean holds(double actual, double expected) {
            int c = Double.compare(actual, expected);
            return switch (this) {
                case EQ -> c == 0;
                case NE -> c != 0;
                case LT -> c < 0;
                case LE -> c <= 0;
                case GT -> c > 0;
                case GE -> c >= 0;
            };
        }
    }

    /** {@code APP[@VER] is BACKEND}: the backend the catalog serves the app version from. */
    private String backend(List<String> args) throws IOException {
        if (args.size() != 3 || !args.get(1).equals("is")) {
            throw usage("expected 'check backend APP[@VER] is BACKEND'");
        }
        dev.dcd.catalog.AppVersion app = session.context().catalog().resolve(args.get(0));
        String expected = args.get(2);
        if (!app.backend().equals(expected)) {
            throw new CheckFailed(app.label() + " is on backend " + app.backend() + ", expected " + expected);
        }
        return app.label() + " is on backend " + expected;
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
