package dev.dcd.tests.shell;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * One tmux server of our own (its socket in the test's temp directory, so nothing outlives the test),
 * one session of a fixed size: send keys, read the screen.
 * Waiting always polls the screen against a deadline instead of sleeping blindly.
 */
final class Tmux implements AutoCloseable {
    static final String SESSION = "dcd";
    private final Path socket;

    private Tmux(Path socket) {
        this.socket = socket;
    }

    /** Starts {@code command} (a shell command line) in a new detached session of the given size. */
    static Tmux start(Path socket, int columns, int rows, String command) throws IOException, InterruptedException {
        Tmux tmux = new Tmux(socket);
        tmux.run("new-session", "-d", "-s", SESSION, "-x", String.valueOf(columns), "-y", String.valueOf(rows), command);
        // Keep the pane after the program exits so its last words and exit status can be read.
        tmux.run("set-option", "-t", SESSION, "remain-on-exit", "on");
        return tmux;
    }

    /** Types text literally (no key names). */
    void type(String text) throws IOException, InterruptedException {
        run("send-keys", "-t", SESSION, "-l", "--", text);
    }

    /** Presses keys by tmux name: Tab, Enter, C-c, C-d, Up... */
    void press(String... keys) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("send-keys", "-t", SESSION));
        args.addAll(List.of(keys));
        run(args.toArray(String[]::new));
    }

    String screen() throws IOException, InterruptedException {
        return run("capture-pane", "-p", "-t", SESSION);
    }

    /** Polls the screen until {@code test} holds; fails with the screen when {@code timeout} passes first. */
    String await(String what, Duration timeout, Predicate<String> test) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String screen = screen();
        while (!test.test(screen)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what + "; screen:\n" + screen);
            }
            Thread.sleep(100);
            screen = screen();
        }
        return screen;
    }

    /** True once the program in the pane has exited. */
    boolean exited() throws IOException, InterruptedException {
        return run("display-message", "-p", "-t", SESSION, "#{pane_dead}").strip().equals("1");
    }

    private String run(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("tmux", "-S", socket.toString()));
        command.addAll(List.of(args));
        return dev.dcd.testing.ProcessRunner.command(command).mergeErr().timeout(java.time.Duration.ofSeconds(30))
                .run().requireOk().out();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        dev.dcd.testing.ProcessRunner.command("tmux", "-S", socket.toString(), "kill-server").mergeErr()
                .timeout(java.time.Duration.ofSeconds(30)).run(); // a server already gone is fine
        Files.deleteIfExists(socket);
    }
}
