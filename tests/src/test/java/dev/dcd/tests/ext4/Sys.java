package dev.dcd.tests.ext4;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real tools the suite is judged by; a missing tool fails the test, never skips it. */
final class Sys {
    record Result(int exit, String output) {
    }

    private Sys() {
    }

    static Result exec(String... command) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command[0] + " (is it installed?): " + e.getMessage(), e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new Result(p.exitValue(), out);
    }

    static String run(String... command) throws IOException {
        Result r = exec(command);
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", command) + " exited " + r.exit() + ":\n" + r.output());
        }
        return r.output();
    }

    /** A loop device over the partition of a raw disk image. */
    static final class Loop implements AutoCloseable {
        final String device;

        Loop(Path image, long offset, long length, boolean readOnly) throws IOException {
            List<String> cmd = new java.util.ArrayList<>(List.of("losetup", "--find", "--show", "--offset", Long.toString(offset),
                    "--sizelimit", Long.toString(length)));
            if (readOnly) {
                cmd.add("--read-only");
            }
            cmd.add(image.toString());
            device = run(cmd.toArray(new String[0])).trim();
        }

        @Override
        public void close() throws IOException {
            run("losetup", "--detach", device);
        }
    }

    /** A mounted filesystem, unmounted on close. */
    static final class Mount implements AutoCloseable {
        final Path point;

        Mount(Path point, String... command) throws IOException {
            this.point = point;
            run(command);
        }

        @Override
        public void close() throws IOException {
            Result r = null;
            for (int i = 0; i < 20; i++) {
                r = exec("umount", point.toString());
                if (r.exit() == 0) {
                    return;
                }
                try {
                    Thread.sleep(250);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            throw new IOException("umount " + point + " failed: " + r.output());
        }
    }
}
