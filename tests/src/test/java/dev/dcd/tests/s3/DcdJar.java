package dev.dcd.tests.s3;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real {@code dcd.jar} as its own process with {@code --home HOME}, the S3 credentials in the
 * environment (how a user hands them to the AWS chain) and nothing else of dcd's state shared with the test.
 */
final class DcdJar {
    static final Path JAR = Path.of(System.getProperty("dcd.jar", "../shell/target/dcd.jar")).toAbsolutePath();

    private final Path home;
    private final S3ProxyServer server;
    private final Path scratch;

    DcdJar(Path home, S3ProxyServer server, Path scratch) {
        this.home = home;
        this.server = server;
        this.scratch = scratch;
    }

    record Result(int code, String out, String err, long millis) {
        @Override
        public String toString() {
            return "exit " + code + " after " + millis + " ms\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    Result run(String... args) throws IOException, InterruptedException {
        if (!Files.isRegularFile(JAR)) {
            throw new AssertionError("dcd.jar is built by the shell module (mvn -pl tests -am verify): " + JAR);
        }
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString(),
                "--home", home.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        Map<String, String> env = pb.environment();
        env.remove("DCD_HOME");
        env.put("AWS_ACCESS_KEY_ID", server.identity());
        env.put("AWS_SECRET_ACCESS_KEY", server.credential());
        Files.createDirectories(scratch);
        Path out = Files.createTempFile(scratch, "out", ".txt");
        Path err = Files.createTempFile(scratch, "err", ".txt");
        long start = System.nanoTime();
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", args) + " timed out");
        }
        try {
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err),
                    (System.nanoTime() - start) / 1_000_000);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** A command that must succeed with nothing on stderr; returns its stdout. */
    String ok(String... args) throws IOException, InterruptedException {
        Result r = run(args);
        if (r.code() != 0 || !r.err().isEmpty()) {
            throw new AssertionError("dcd " + String.join(" ", args) + ": " + r);
        }
        return r.out();
    }
}
