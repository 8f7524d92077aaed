package dev.dcd.tests.ext4;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import dev.dcd.testing.ProcessRunner;

import java.time.Duration;

/** Runs the real tools the suite is judged by; a missing tool fails the test, never skips it. */
final class Sys {
    record Result(int exit, String output) {
    }

    private Sys() {
    }

    static Result exec(String... command) {
        ProcessRunner.Result r = ProcessRunner.command(command).mergeErr().timeout(Duration.ofSeconds(600)).run();
        return new Result(r.code(), r.out());
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
