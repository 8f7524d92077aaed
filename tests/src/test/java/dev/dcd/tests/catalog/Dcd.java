package dev.dcd.tests.catalog;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.io.InputStream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the real {@code dcd.jar} (or the {@code ./dcd} launcher) as a separate process. */
final class Dcd {
    static final Path JAR = Path.of(System.getProperty("dcd.jar", "../shell/target/dcd.jar")).toAbsolutePath().normalize();
    static final Path REPO = Path.of(System.getProperty("dcd.repo", "..")).toAbsolutePath().normalize();

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private Dcd() {
    }

    static Result jar(Path home, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("java", "-jar", JAR.toString(), "--home", home.toString()));
        command.addAll(List.of(args));
        return exec(REPO, Map.of(), command);
    }

    static Result ok(Path home, String... args) throws IOException, InterruptedException {
        Result r = jar(home, args);
        if (r.code() != 0) {
            throw new AssertionError("dcd " + String.join(" ", args) + " failed: " + r);
        }
        return r;
    }

    static Result exec(Path dir, Map<String, String> env, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().putAll(env);
        Path out = Files.createTempFile("dcd-out", ".txt");
        Path err = Files.createTempFile("dcd-err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " timed out");
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Runs a tool that must succeed. */
    static String tool(Path dir, String... command) throws IOException, InterruptedException {
        Result r = exec(dir, Map.of(), List.of(command));
        if (r.code() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed: " + r);
        }
        return r.out();
    }

    static String sha256(InputStream in) throws IOException {
        return dev.dcd.testing.Hashes.sha256(in);
    }

    static String sha256(Path file) {
        return dev.dcd.testing.Hashes.sha256(file);
    }

    static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * Starts {@code dcd --home HOME ARGS} in the background, as a user's shell would (stdin from /dev/null, no
     * {@code DCD_HOME}), its stdout and stderr into {@code logs/out} and {@code logs/err}; the caller ends it.
     */
    static Process start(Path home, Path logs, String... args) throws IOException {
        return start(home, logs, java.util.Map.of(), args);
    }

    /** As {@link #start(Path, Path, String...)}, with {@code env} added to the process's environment. */
    static Process start(Path home, Path logs, java.util.Map<String, String> env, String... args) throws IOException {
        // A background job of a non-interactive shell (nohup, `cmd &`) starts with SIGINT ignored, children inherit
        // that, and a JVM started so installs no Ctrl-C handler: reset it, so a test's SIGINT acts as a user's Ctrl-C.
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=INT", "java", "-jar", JAR.toString(),
                "--home", home.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(logs.resolve("out").toFile()).redirectError(logs.resolve("err").toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().putAll(env);
        return pb.start();
    }

    /**
     * Waits until one of the files {@code candidates} lists holds more than 1 MiB (the process is well into its
     * writing), and returns it; fails when {@code process} ends first (with its stderr from {@code logs/err}) or
     * nothing grows within {@code deadline}.
     */
    static Path awaitGrowingFile(Process process, Path logs, String what, Duration deadline,
            Callable<List<Path>> candidates) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < end) {
            assertTrue(process.isAlive(), what + " ended before the test could stop it: exit "
                    + (process.isAlive() ? "" : process.exitValue()) + " " + Files.readString(logs.resolve("err")));
            for (Path p : candidates.call()) {
                if (sizeOrZero(p) > (1 << 20)) {
                    return p;
                }
            }
            process.waitFor(10, TimeUnit.MILLISECONDS); // returns early if the process exits
        }
        throw new AssertionError("no file of " + what + " grew past 1 MiB within " + deadline);
    }

    private static long sizeOrZero(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0; // not there yet, or renamed away meanwhile
        }
    }

    /** Writes {@code files} files {@code blob-I.bin} of {@code bytes} seeded random (incompressible) bytes each. */
    static void writeRandomBlobs(Path dir, int files, int bytes, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        byte[] chunk = new byte[1 << 20];
        for (int i = 0; i < files; i++) {
            try (OutputStream out = Files.newOutputStream(dir.resolve("blob-" + i + ".bin"))) {
                for (int written = 0; written < bytes; written += chunk.length) {
                    random.nextBytes(chunk);
                    out.write(chunk);
                }
            }
        }
    }
}
