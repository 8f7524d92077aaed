package dev.dcd.tests.mount;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs the real tools the mount tests are judged by, always with a deadline. */
final class Tools {
    record Result(int code, String out, String err) {
        String all() {
            return out + err;
        }
    }

    private Tools() {
    }

    static Result run(List<String> command) {
        return run(command, null, 120);
    }

    static Result run(String... command) {
        return run(List.of(command));
    }

    static Result run(List<String> command, java.util.Map<String, String> env, int timeoutSeconds) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            if (env != null) {
                pb.environment().putAll(env);
            }
            Process p = pb.start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> slurp(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(p.getErrorStream()));
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " timed out after " + timeoutSeconds + " s");
            }
            return new Result(p.exitValue(), out.get(), err.get());
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command.get(0) + " (is it installed?): " + e.getMessage(), e);
        } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
            throw new AssertionError(e);
        }
    }

    /** Runs and insists on success, returning stdout. */
    static String ok(String... command) {
        Result r = run(command);
        if (r.code() != 0) {
            throw new AssertionError(String.join(" ", command) + " exited " + r.code() + ": " + r.all());
        }
        return r.out();
    }

    private static String slurp(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Best-effort cleanup for finally blocks: never throws, never hangs. */
    static void quietly(String... command) {
        try {
            run(List.of(command), null, 20);
        } catch (AssertionError e) {
            // cleanup only
        }
    }

    static void unmountQuietly(Path mountpoint) {
        quietly("umount", "-l", mountpoint.toString());
    }
}
