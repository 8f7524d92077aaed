package dev.dcd.tests.nfs;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real NFS server for the tests: nfs-ganesha 4 (VFS FSAL, NFSv3 over TCP only) in its own process, bound to
 * 127.0.0.1 on two free ports picked at start, exporting one directory with {@code No_Root_Squash}.
 *
 * <p>ganesha refuses to start unless it can register with rpcbind, and only one rpcbind can own port 111, so
 * the tests share one: an rpcbind already running is used as it is; otherwise this class starts
 * {@code rpcbind -f -w} and stops it when the last server of this JVM stops. Clients never ask the portmapper
 * (dcd and nfs-cat are given both ports), so a registration that a concurrent server replaced does no harm.
 *
 * <p>Daemons are stopped by pid: {@link #close()}, a JVM shutdown hook, and, for a JVM that was killed outright,
 * the next start, which kills the daemons whose owning JVM is gone (each server's pid files live under
 * {@link #RUN_ROOT}, in a directory named after the owning JVM's pid).
 */
public final class GaneshaServer implements AutoCloseable {
    static final Path RUN_ROOT = Path.of(System.getProperty("java.io.tmpdir"), "dcd-nfs-servers");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final String READY = "NFS SERVER INITIALIZED";
    private static final Object RPCBIND_LOCK = new Object();
    private static Process rpcbind;
    private static int users;

    private final Path run;
    private final Path export;
    private final Path conf;
    private final Path log;
    private final int nfsPort;
    private final int mountPort;
    private Process process;
    private final Thread hook;

    private GaneshaServer(Path run, Path export, int nfsPort, int mountPort) throws IOException {
        this.run = run;
        this.export = export;
        this.conf = run.resolve("ganesha.conf");
        this.log = run.resolve("ganesha.log");
        this.nfsPort = nfsPort;
        this.mountPort = mountPort;
        Files.writeString(conf, String.join("\n",
                "NFS_CORE_PARAM {",
                "  Bind_addr = 127.0.0.1;",
                "  NFS_Port = " + nfsPort + ";",
                "  MNT_Port = " + mountPort + ";",
                "  NFS_Protocols = 3;",
                "  Enable_NLM = false;",
                "  Enable_RQUOTA = false;",
                "  Enable_UDP = false;",
                "}",
                "NFSV4 { Graceless = true; }",
                "EXPORT {",
                "  Export_Id = 1;",
                "  Path = " + export + ";",
                "  Pseudo = " + export + ";",
                "  Access_Type = RW;",
                "  Squash = No_Root_Squash;",
                "  Protocols = 3;",
                "  Transports = TCP;",
                "  SecType = sys;",
                "  FSAL { Name = VFS; }",
                "}",
                ""), StandardCharsets.UTF_8);
        this.hook = new Thread(this::killNow, "ganesha-stop-" + nfsPort);
    }

    /** Starts a server exporting {@code export} (created if missing; the caller owns and cleans it). */
    public static GaneshaServer start(Path export) throws IOException {
        reapOrphans();
        Files.createDirectories(export);
        Path real = export.toRealPath();
        Path run = Files.createDirectories(RUN_ROOT.resolve(ProcessHandle.current().pid() + "-" + System.nanoTime()));
        GaneshaServer server = new GaneshaServer(run, real, freePort(), freePort());
        acquireRpcbind();
        try {
            Runtime.getRuntime().addShutdownHook(server.hook);
            server.launch();
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static boolean answers(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void acquireRpcbind() throws IOException {
        synchronized (RPCBIND_LOCK) {
            users++;
            if (answers(111)) {
                return;
            }
            Path rpcbindLog = RUN_ROOT.resolve(ProcessHandle.current().pid() + "-rpcbind.log");
            rpcbind = new ProcessBuilder("rpcbind", "-f", "-w").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(rpcbindLog.toFile())).start();
            Files.writeString(RUN_ROOT.resolve(ProcessHandle.current().pid() + "-rpcbind.pid"), Long.toString(rpcbind.pid()));
            long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
            while (!answers(111)) {
                if (!rpcbind.isAlive()) {
                    throw new IOException("rpcbind exited with status " + rpcbind.exitValue() + "; log " + rpcbindLog);
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("rpcbind did not listen on port 111 within " + START_TIMEOUT);
                }
                pause(50);
            }
            Process owned = rpcbind;
            Runtime.getRuntime().addShutdownHook(new Thread(owned::destroyForcibly, "rpcbind-stop"));
        }
    }

    private static void releaseRpcbind() {
        synchronized (RPCBIND_LOCK) {
            users--;
            if (users <= 0 && rpcbind != null) {
                stopProcess(rpcbind);
                rpcbind = null;
                users = 0;
                try {
                    Files.deleteIfExists(RUN_ROOT.resolve(ProcessHandle.current().pid() + "-rpcbind.pid"));
                } catch (IOException ignored) {
                    // a stale pid file is reaped by pid liveness, never trusted blindly
                }
            }
        }
    }

    /**
     * Kills the daemons a killed test JVM left behind: for each run directory or rpcbind pid file whose JVM is
     * gone, the daemon whose pid it names, checked by its command line first.
     */
    static void reapOrphans() throws IOException {
        Files.createDirectories(RUN_ROOT);
        try (Stream<Path> entries = Files.list(RUN_ROOT)) {
            for (Path entry : entries.toList()) {
                String name = entry.getFileName().toString();
                long owner;
                try {
                    owner = Long.parseLong(name.substring(0, name.indexOf('-')));
                } catch (RuntimeException e) {
                    continue;
                }
                if (ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false)) {
                    continue;
                }
                Path pidFile = Files.isDirectory(entry) ? entry.resolve("ganesha.pid") : name.endsWith("-rpcbind.pid") ? entry : null;
                if (pidFile != null && Files.isRegularFile(pidFile)) {
                    String expected = name.endsWith("-rpcbind.pid") ? "rpcbind" : entry.resolve("ganesha.conf").toString();
                    try {
                        long pid = Long.parseLong(Files.readString(pidFile).trim());
                        ProcessHandle.of(pid).filter(h -> h.info().commandLine().orElse("").contains(expected))
                                .ifPresent(ProcessHandle::destroyForcibly);
                    } catch (NumberFormatException ignored) {
                        // not ours
                    }
                }
                deleteTree(entry);
            }
        }
    }

    private synchronized void launch() throws IOException {
        List<String> command = List.of("ganesha.nfsd", "-F", "-L", log.toString(), "-f", conf.toString(),
                "-p", run.resolve("ganesha.pid").toString(), "-N", "NIV_EVENT");
        long offset = Files.exists(log) ? Files.size(log) : 0;
        process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(run.resolve("ganesha.out").toFile())).start();
        Files.writeString(run.resolve("ganesha.pid"), Long.toString(process.pid()));
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!(ready(offset) && answers(nfsPort) && answers(mountPort))) {
            if (!process.isAlive()) {
                throw new IOException("ganesha.nfsd exited with status " + process.exitValue() + " during start; log "
                        + log + ":\n" + tail());
            }
            if (System.nanoTime() > deadline) {
                killNow();
                throw new IOException("ganesha did not start within " + START_TIMEOUT + "; log:\n" + tail());
            }
            pause(50);
        }
    }

    private boolean ready(long offset) {
        try {
            if (!Files.exists(log)) {
                return false;
            }
            byte[] all = Files.readAllBytes(log);
            return new String(all, (int) Math.min(offset, all.length), (int) Math.max(0, all.length - offset),
                    StandardCharsets.UTF_8).contains(READY);
        } catch (IOException e) {
            return false;
        }
    }

    /** Polling interval of start and stop loops (each waits on a real condition with a deadline). */
    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static void stopProcess(Process p) {
        ProcessHandle handle = p.toHandle();
        try {
            handle.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                handle.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            handle.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private void killNow() {
        Process p = process;
        if (p != null) {
            signal(p.pid(), "CONT");
            p.destroyForcibly();
        }
    }

    private static void signal(long pid, String signal) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).redirectErrorStream(true).start();
            kill.getInputStream().readAllBytes();
            if (!kill.waitFor(10, TimeUnit.SECONDS)) {
                kill.destroyForcibly();
            }
        } catch (IOException e) {
            throw new IllegalStateException("kill -" + signal + " " + pid + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void awaitPortsClosed() {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while ((answers(nfsPort) || answers(mountPort)) && System.nanoTime() < deadline) {
            pause(50);
        }
    }

    /** Stops the server (SIGTERM, then SIGKILL) and waits for its ports to close; the export is kept. */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        signal(process.pid(), "CONT");
        stopProcess(process);
        process = null;
        awaitPortsClosed();
    }

    /** SIGKILL: the server dies mid-whatever, as in a crash. */
    public synchronized void kill() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.toHandle().destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        process = null;
        awaitPortsClosed();
    }

    /** SIGSTOP: the server hangs, its sockets stay open and answer nothing. */
    public synchronized void freeze() {
        signal(process.pid(), "STOP");
    }

    /** SIGCONT after {@link #freeze()}. */
    public synchronized void thaw() {
        signal(process.pid(), "CONT");
    }

    /** Starts the server again on the same ports with the same export. */
    public synchronized void restart() throws IOException {
        stop();
        launch();
    }

    public synchronized boolean running() {
        return process != null && process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public Path export() {
        return export;
    }

    public int nfsPort() {
        return nfsPort;
    }

    public int mountPort() {
        return mountPort;
    }

    public Path log() {
        return log;
    }

    /** {@code nfs://127.0.0.1:PORT/EXPORT/SUB?mount-port=N} plus {@code extra} parameters (each starting with '&'). */
    public String uri(String sub, String extra) {
        return "nfs://127.0.0.1:" + nfsPort + export + (sub.isEmpty() ? "" : "/" + sub) + "?mount-port=" + mountPort + extra;
    }

    /** The same place as libnfs's command-line tools (nfs-cat, nfs-ls) want it, without the portmapper. */
    public String libnfsUrl(String path) {
        return "nfs://127.0.0.1" + export + "/" + path + "?nfsport=" + nfsPort + "&mountport=" + mountPort + "&version=3";
    }

    @Override
    public synchronized void close() {
        try {
            stop();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // the JVM is shutting down; the hook runs anyway
            }
            releaseRpcbind();
            deleteTree(run);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> files = Files.walk(root)) {
            List<Path> all = new ArrayList<>(files.toList());
            all.sort((a, b) -> b.compareTo(a));
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // leftovers in the temp dir are harmless; the daemons are what must not be left
        }
    }

    @Override
    public String toString() {
        return "ganesha at 127.0.0.1:" + nfsPort + " (mount " + mountPort + ") exporting " + export;
    }
}
