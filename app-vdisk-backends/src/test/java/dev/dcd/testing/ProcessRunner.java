package dev.dcd.testing;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * The one way tests run an external program. Both output streams are drained on their own threads while the
 * test waits, so a chatty child cannot fill a pipe and stall; stdin is {@code /dev/null}, so a tool that
 * prompts gets EOF instead of waiting for a terminal; and the deadline is real: when it passes, the child
 * and its descendants are killed and the test fails naming the command. Immutable; build with
 * {@link #command(String...)}.
 */
public final class ProcessRunner {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);
    private static final File DEV_NULL = new File("/dev/null");

    private final List<String> command;
    private final Path directory;
    private final Map<String, String> env;
    private final List<String> removedEnv;
    private final Duration timeout;
    private final boolean mergeErr;

    private ProcessRunner(Builder b) {
        this.command = List.copyOf(b.command);
        this.directory = b.directory;
        this.env = Map.copyOf(b.env);
        this.removedEnv = List.copyOf(b.removedEnv);
        this.timeout = b.timeout;
        this.mergeErr = b.mergeErr;
    }

    /** What a finished child left: its exit code and everything it wrote. */
    public record Result(List<String> command, int code, byte[] stdout, String err) {
        public String out() {
            return new String(stdout, StandardCharsets.UTF_8);
        }

        /** stdout then stderr, for failure messages. */
        public String all() {
            return out() + err;
        }

        public boolean ok() {
            return code == 0;
        }

        /** This result, or an AssertionError naming the command, its exit code and its output. */
        public Result requireOk() {
            if (code != 0) {
                throw new AssertionError(String.join(" ", command) + " exited " + code + ": " + all());
            }
            return this;
        }
    }

    public static Builder command(String... command) {
        return new Builder(List.of(command));
    }

    public static Builder command(List<String> command) {
        return new Builder(command);
    }

    /** Runs with the default deadline. */
    public static Result run(String... command) {
        return command(command).run();
    }

    /** Runs, insists on exit 0 and returns stdout as text. */
    public static String ok(String... command) {
        return command(command).run().requireOk().out();
    }

    /** Starts, drains and waits; throws AssertionError when the program is missing or the deadline passes. */
    public Result execute() {
        ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(DEV_NULL))
                .redirectErrorStream(mergeErr);
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        removedEnv.forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command.get(0) + " (is it installed?): " + e.getMessage(), e);
        }
        Drain out = new Drain(p.getInputStream(), "stdout of " + command.get(0));
        Drain err = new Drain(p.getErrorStream(), "stderr of " + command.get(0));
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                killTree(p);
                throw new AssertionError(String.join(" ", command) + " timed out after " + timeout.toSeconds()
                        + " s and was killed; output so far: " + out.text() + err.text());
            }
            return new Result(command, p.exitValue(), out.bytes(), new String(err.bytes(), StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            killTree(p);
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running " + String.join(" ", command), e);
        }
    }

    private static void killTree(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Copies one stream into memory on a daemon thread of its own. */
    private static final class Drain {
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private final Thread thread;

        Drain(InputStream in, String name) {
            thread = new Thread(() -> {
                byte[] chunk = new byte[1 << 16];
                try (in) {
                    int n;
                    while ((n = in.read(chunk)) >= 0) {
                        synchronized (buffer) {
                            buffer.write(chunk, 0, n);
                        }
                    }
                } catch (IOException e) {
                    // The child was killed or closed the pipe; what was read so far is the output.
                }
            }, name);
            thread.setDaemon(true);
            thread.start();
        }

        /** Everything, once the child has exited and closed the pipe (a grandchild holding it open is cut off). */
        byte[] bytes() throws InterruptedException {
            thread.join(TimeUnit.SECONDS.toMillis(10));
            synchronized (buffer) {
                return buffer.toByteArray();
            }
        }

        String text() {
            synchronized (buffer) {
                return buffer.toString(StandardCharsets.UTF_8);
            }
        }
    }

    public static final class Builder {
        private final List<String> command;
        private Path directory;
        private final Map<String, String> env = new LinkedHashMap<>();
        private final List<String> removedEnv = new ArrayList<>();
        private Duration timeout = DEFAULT_TIMEOUT;
        private boolean mergeErr;

        private Builder(List<String> command) {
            if (command.isEmpty()) {
                throw new IllegalArgumentException("no command");
            }
            this.command = List.copyOf(command);
        }

        public Builder directory(Path value) {
            this.directory = value;
            return this;
        }

        public Builder env(Map<String, String> values) {
            this.env.putAll(values);
            return this;
        }

        public Builder env(String name, String value) {
            this.env.put(name, value);
            return this;
        }

        public Builder withoutEnv(String name) {
            this.removedEnv.add(name);
            return this;
        }

        public Builder timeout(Duration value) {
            this.timeout = Objects.requireNonNull(value);
            return this;
        }

        /** stderr into stdout, in the order written, as a terminal would show them. */
        public Builder mergeErr() {
            this.mergeErr = true;
            return this;
        }

        public ProcessRunner build() {
            return new ProcessRunner(this);
        }

        public Result run() {
            return build().execute();
        }
    }
}
