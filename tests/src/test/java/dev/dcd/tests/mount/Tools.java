package dev.dcd.tests.mount;

import dev.dcd.testing.ProcessRunner;

import java.nio.file.Path;
import java.util.List;

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
        ProcessRunner.Builder runner = ProcessRunner.command(command).timeout(java.time.Duration.ofSeconds(timeoutSeconds));
        if (env != null) {
            runner.env(env);
        }
        ProcessRunner.Result r = runner.run();
        return new Result(r.code(), r.out(), r.err());
    }

    /** Runs and insists on success, returning stdout. */
    static String ok(String... command) {
        Result r = run(command);
        if (r.code() != 0) {
            throw new AssertionError(String.join(" ", command) + " exited " + r.code() + ": " + r.all());
        }
        return r.out();
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
