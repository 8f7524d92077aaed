package dev.dcd.tests.catalog;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.io.InputStream;

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
}
