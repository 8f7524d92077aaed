package dev.dcd.tests.lun;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real NBD server in its own process on 127.0.0.1 at a port picked at run time: nbdkit (with optional filters)
 * or qemu-nbd. nbdkit runs with {@code --exit-with-parent}, so it dies with the test JVM however that ends;
 * both are killed by pid in {@link #close()} and by a shutdown hook. Ready means the pid file exists, which
 * both servers write once they listen. A missing server binary fails the test (it is in TEST_PACKAGES).
 */
public final class NbdServer implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final List<String> command;
    private final Path pidFile;
    private final Path log;
    private final int port;
    private final String export;
    private Process process;
    private final Thread hook;

    private NbdServer(List<String> command, Path pidFile, Path log, int port, String export) {
        this.command = command;
        this.pidFile = pidFile;
        this.log = log;
        this.port = port;
        this.export = export;
        this.hook = new Thread(this::kill);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** nbdkit serving {@code plugin args} (for example {@code memory 64M} or {@code file /path}) through {@code filters}. */
    public static NbdServer nbdkit(Path dir, List<String> filterArgs, String... pluginAndArgs) throws IOException {
        IOException last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            int port = freePort();
            Path pid = dir.resolve("nbdkit-" + port + ".pid");
            List<String> cmd = new ArrayList<>(List.of("nbdkit", "--exit-with-parent", "-P", pid.toString(),
                    "-i", "127.0.0.1", "-p", Integer.toString(port)));
            // nbdkit wants the filters before the plugin and every key=value (the filters' too) after it.
            filterArgs.stream().filter(a -> a.startsWith("--filter=")).forEach(cmd::add);
            cmd.addAll(List.of(pluginAndArgs));
            filterArgs.stream().filter(a -> !a.startsWith("--filter=")).forEach(cmd::add);
            NbdServer server = new NbdServer(cmd, pid, dir.resolve("nbdkit-" + port + ".log"), port, "");
            try {
                server.start();
                return server;
            } catch (IOException e) {
                server.close();
                last = e;
            }
        }
        throw last;
    }

    /** qemu-nbd serving the raw {@code file} as export {@code export}, for up to 16 connections at once. */
    public static NbdServer qemuNbd(Path dir, Path file, String export) throws IOException {
        IOException last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            int port = freePort();
            Path pid = dir.resolve("qemu-nbd-" + port + ".pid");
            List<String> cmd = List.of("qemu-nbd", "-f", "raw", "-x", export, "-b", "127.0.0.1", "-p",
                    Integer.toString(port), "-t", "-e", "16", "--cache=writeback", "--pid-file=" + pid, file.toString());
            NbdServer server = new NbdServer(cmd, pid, dir.resolve("qemu-nbd-" + port + ".log"), port, export);
            try {
                server.start();
                return server;
            } catch (IOException e) {
                server.close();
                last = e;
            }
        }
        throw last;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts (or starts again, on the same port) and returns once the server accepts connections. */
    public synchronized void start() throws IOException {
        Files.deleteIfExists(pidFile);
        process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!(Files.exists(pidFile) && Files.size(pidFile) > 0)) {
            if (!process.isAlive()) {
                throw new IOException(command.get(0) + " exited with " + process.exitValue() + " before it listened: "
                        + Files.readString(log).strip());
            }
            if (System.nanoTime() > deadline) {
                kill();
                throw new IOException(command.get(0) + " did not write its pid file within " + START_TIMEOUT);
            }
            try {
                process.waitFor(20, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while starting " + command.get(0));
            }
        }
    }

    public URI uri() {
        return URI.create("nbd://127.0.0.1:" + port + "/" + export);
    }

    public URI uri(String query) {
        return URI.create(uri() + "?" + query);
    }

    public int port() {
        return port;
    }

    public String export() {
        return export;
    }

    public synchronized long pid() {
        return process.pid();
    }

    /** SIGKILL, then waits until the process is gone. */
    public synchronized void kill() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    public synchronized boolean alive() {
        return process != null && process.isAlive();
    }

    public Path log() {
        return log;
    }

    @Override
    public void close() {
        kill();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // Shutting down already: the hook runs kill() itself.
        }
    }
}
