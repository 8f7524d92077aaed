package dev.dcd.mount;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs an external tool with a deadline: a mount command must never hang on a stuck helper. */
final class Exec {
    record Result(int exitCode, String stdout, String stderr, boolean timedOut) {
        boolean ok() {
            return exitCode == 0 && !timedOut;
        }

        /** The most telling line of output, for an error message. */
        String message() {
            String text = !stderr.isBlank() ? stderr : stdout;
            text = text.strip();
            int nl = text.lastIndexOf('\n');
            return timedOut ? "timed out" : nl < 0 ? text : text.substring(nl + 1);
        }
    }

    private Exec() {
    }

    static Result run(Duration timeout, List<String> command) {
        return run(timeout, command, Map.of(), false);
    }

    /**
     * As {@link #run(Duration, List)}, with {@code env} added to the environment, and this process's own stdin
     * handed down when {@code inheritStdin} (how a descriptor reaches a child: Java passes on only 0-2).
     */
    static Result run(Duration timeout, List<String> command, Map<String, String> env, boolean inheritStdin) {
        Process process;
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectInput(inheritStdin ? ProcessBuilder.Redirect.INHERIT
                    : ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            pb.environment().putAll(env);
            process = pb.start();
        } catch (IOException e) {
            return new Result(127, "", command.get(0) + ": " + e.getMessage(), false);
        }
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> slurp(process.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(process.getErrorStream()));
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                return new Result(-1, "", String.join(" ", command) + " timed out after " + timeout.toSeconds() + " s", true);
            }
            return new Result(process.exitValue(), out.get(1, TimeUnit.SECONDS), err.get(1, TimeUnit.SECONDS), false);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            return new Result(-1, "", "interrupted", true);
        } catch (Exception e) {
            return new Result(process.exitValue(), "", e.toString(), false);
        }
    }

    static Result run(Duration timeout, String... command) {
        return run(timeout, List.of(command));
    }

    private static String slurp(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
