package dev.dcd.nbd;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.catalog.TestGate;
import dev.dcd.filter.ExtendedBlockDevice;
import dev.dcd.mount.MountContext;
import dev.dcd.mount.MountException;
import dev.dcd.mount.MountSource;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The lifecycle behind {@code dcd serve VM --nbd …}: a foreground server, or a detached serving process with
 * a pid record under {@code $DCD_HOME/serve} and a log under {@code $DCD_HOME/log}, and {@code --stop}.
 */
public final class ServeService {
    static final String SERVE_COMMAND = "nbd-serve";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final MountContext context;
    private final PrintWriter out;
    private final boolean json;

    public ServeService(MountContext context, PrintWriter out, boolean json) {
        this.context = context;
        this.out = out;
        this.json = json;
    }

    /** What a record says about one running server. */
    public record Record(String vm, String uri, long pid) {
        boolean alive() {
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .map(h -> h.info().command().map(c -> c.endsWith("java")).orElse(true))
                    .orElse(false);
        }
    }

    /** The socket used when {@code --nbd} has no value: owner-only, under $DCD_HOME/run. */
    public NbdEndpoint defaultEndpoint(String vm) {
        return NbdEndpoint.unix(defaultSocket(context.dcdHome(), vm));
    }

    public static Path defaultSocket(Path home, String vm) {
        return home.resolve("run").resolve(fileName(vm) + ".sock");
    }

    /**
     * Starts an export of a mount's own source ({@code dcd mount VM MP --nbd}): one chain, one overlay, so
     * FUSE and NBD writes meet in the same place. The caller closes the server before the source.
     */
    public static NbdServer startBeside(String vm, MountSource source, String address) throws IOException {
        NbdEndpoint endpoint = NbdEndpoint.parse(address);
        try {
            prepareSocketDir(endpoint);
        } catch (MountException e) {
            throw new IOException(e.getMessage(), e);
        }
        NbdServer server = NbdServer.start(NbdServerConfig.builder(
                new NbdExport(vm, source.describe(), ExtendedBlockDevice.of(source.disk()), false), endpoint).build());
        System.err.println("nbd: serving " + source.describe() + " at " + server.uri());
        return server;
    }

    /** Serves in this process until the JVM is told to stop (Ctrl-C, SIGTERM), or starts a detached server. */
    public void serve(String vm, NbdEndpoint endpoint, boolean background, boolean readOnly) throws MountException {
        refuseIfServed(vm);
        if (background) {
            // Open once here so that a VM without a disk, or one already served, fails now with one line.
            close(open(vm));
            startDetached(vm, endpoint, readOnly);
            return;
        }
        run(vm, endpoint, readOnly, true);
    }

    /** The hidden {@code nbd-serve} subcommand: the detached process. */
    public void serveDetached(String vm, NbdEndpoint endpoint, boolean readOnly) throws MountException {
        run(vm, endpoint, readOnly, false);
    }

    private void run(String vm, NbdEndpoint endpoint, boolean readOnly, boolean announce) throws MountException {
        // A reader from before the catalog is read: the record and the control socket come only after the open.
        java.io.Closeable reader = dev.dcd.mount.MountControl.registerReader(context.dcdHome(),
                dev.dcd.control.ControlSockets.SERVE, vm);
        MountSource source;
        try {
            source = open(vm);
        } catch (MountException | RuntimeException e) {
            dev.dcd.mount.MountControl.unregister(reader);
            throw e;
        }
        try {
            // Tests hold a real server here: its vdisks are open, its socket and record do not exist yet.
            TestGate.pass(TestGate.SERVE_STARTING);
        } catch (IOException e) {
            throw new MountException("test gate: " + e.getMessage(), e);
        }
        prepareSocketDir(endpoint);
        NbdExport export = new NbdExport(vm, source.describe(), ExtendedBlockDevice.of(source.disk()), readOnly);
        NbdServer server;
        try {
            server = NbdServer.start(NbdServerConfig.builder(export, endpoint).build());
        } catch (IOException | RuntimeException e) {
            close(source);
            dev.dcd.mount.MountControl.unregister(reader);
            throw new MountException("cannot listen on " + endpoint + ": " + e.getMessage(), e);
        }
        long pid = ProcessHandle.current().pid();
        java.io.Closeable control = dev.dcd.mount.MountControl.start(context.dcdHome(),
                dev.dcd.control.ControlSockets.SERVE, vm, source);
        AtomicBoolean stopped = new AtomicBoolean();
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                try {
                    if (control != null) {
                        control.close();
                    }
                    server.close();
                } catch (IOException e) {
                    System.err.println("nbd: closing the server: " + e.getMessage());
                }
                close(source);
                deleteRecordIfOwned(vm, pid);
                dev.dcd.mount.MountControl.unregister(reader);
                System.err.println("nbd: stopped serving " + vm);
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "nbd-stop"));
        writeRecord(new Record(vm, server.uri(), pid));
        source.start();
        source.awaitStarted(MountSource.OPEN_AHEAD_WAIT);
        System.err.println("nbd: serving " + source.describe() + (export.writable() ? "" : " (read-only)")
                + " at " + server.uri());
        if (announce) {
            report(vm, server.uri(), pid, null, "serving " + source.describe() + " at " + server.uri() + " (Ctrl-C stops)");
        }
        try {
            server.awaitClose();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stop.run();
        }
    }

    private void startDetached(String vm, NbdEndpoint endpoint, boolean readOnly) throws MountException {
        Path log = context.dcdHome().resolve("log").resolve("serve-" + fileName(vm) + ".log");
        List<String> command = new ArrayList<>();
        command.add("setsid");
        command.addAll(context.relaunchPrefix());
        command.add(SERVE_COMMAND);
        if (readOnly) {
            command.add("--read-only");
        }
        command.add("--");
        command.add(vm);
        command.add(endpoint.toString());
        Process process;
        try {
            Files.createDirectories(log.getParent());
            process = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            throw new MountException("cannot start the serving process: " + e.getMessage(), e);
        }
        // Ready means the child has bound its socket and written its record; it writes the record only then.
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        Record ready = null;
        try {
            while (ready == null) {
                Optional<Record> r = recordOf(vm);
                if (r.isPresent() && r.get().pid() == process.pid()) {
                    ready = r.get();
                } else if (process.waitFor(50, TimeUnit.MILLISECONDS)) {
                    throw new MountException("the serving process exited with code " + process.exitValue() + ": "
                            + lastLine(log) + " (log: " + log + ")");
                } else if (System.nanoTime() > deadline) {
                    process.destroy();
                    throw new MountException("the serving process did not start within " + START_TIMEOUT.toSeconds()
                            + " s (log: " + log + ")");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroy();
            throw new MountException("interrupted while starting the server");
        }
        report(vm, ready.uri(), process.pid(), log, "serving " + vm + " at " + ready.uri() + " (pid " + process.pid()
                + ", log " + log + "; stop with: dcd serve --stop " + vm + ")");
    }

    /** Ends a detached (or foreground) server of {@code vm}; it answers what is in flight and flushes first. */
    public void stop(String vm) throws MountException {
        Optional<Record> record = recordOf(vm);
        if (record.isEmpty() || !record.get().alive()) {
            deleteRecord(vm);
            throw new MountException("VM " + vm + " is not being served");
        }
        Record r = record.get();
        ProcessHandle handle = ProcessHandle.of(r.pid()).orElse(null);
        if (handle != null) {
            handle.destroy();
            try {
                handle.onExit().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                throw new MountException("the server of " + vm + " (pid " + r.pid() + ") did not stop within "
                        + STOP_TIMEOUT.toSeconds() + " s");
            }
        }
        deleteRecordIfOwned(vm, r.pid());
        if (json) {
            out.println(toJson(Map.of("vm", vm, "stopped", true, "pid", r.pid())));
        } else {
            out.println("stopped serving " + vm + " (pid " + r.pid() + ")");
        }
        out.flush();
    }

    private void report(String vm, String uri, long pid, Path log, String line) {
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("vm", vm);
            m.put("uri", uri);
            m.put("pid", pid);
            if (log != null) {
                m.put("log", log.toString());
            }
            out.println(toJson(m));
        } else {
            out.println(line);
            out.println("  e.g. qemu-system-x86_64 -m 1G -drive file=" + uri + ",format=raw,if=virtio …");
        }
        out.flush();
    }

    private static String toJson(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void refuseIfServed(String vm) throws MountException {
        Optional<Record> existing = recordOf(vm);
        if (existing.isPresent()) {
            if (existing.get().alive()) {
                throw new MountException("VM " + vm + " is already served at " + existing.get().uri() + " (pid "
                        + existing.get().pid() + "); stop it with: dcd serve --stop " + vm);
            }
            deleteRecord(vm);
        }
    }

    private static void prepareSocketDir(NbdEndpoint endpoint) throws MountException {
        if (!endpoint.isUnix() || endpoint.socket().getParent() == null) {
            return;
        }
        Path dir = endpoint.socket().getParent();
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
        } catch (IOException e) {
            throw new MountException("cannot create " + dir + ": " + e.getMessage());
        }
    }

    private MountSource open(String vm) throws MountException {
        try {
            return context.sources().open(vm);
        } catch (IOException | RuntimeException e) {
            throw new MountException("cannot serve VM " + vm + ": " + e.getMessage(), e);
        }
    }

    private static void close(MountSource source) {
        try {
            source.close();
        } catch (IOException e) {
            System.err.println("nbd: closing " + source.describe() + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- records

    /**
     * Every {@code dcd serve} (foreground or detached) whose process is alive. Its record does not say which
     * generation it serves, so whoever protects vdisks must count every generation of the VM on disk as read.
     */
    public static java.util.List<Record> liveServers(Path home) throws IOException {
        java.util.List<Record> found = new java.util.ArrayList<>();
        Path dir = home.resolve("serve");
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (java.nio.file.DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.pid")) {
            for (Path f : files) {
                readRecord(f).filter(r -> r.vm() != null && r.alive()).ifPresent(found::add);
            }
        }
        found.sort(java.util.Comparator.comparing(Record::vm));
        return found;
    }

    private Path recordFile(String vm) {
        return context.dcdHome().resolve("serve").resolve(fileName(vm) + ".pid");
    }

    private static String fileName(String vm) {
        return URLEncoder.encode(vm, StandardCharsets.UTF_8);
    }

    Optional<Record> recordOf(String vm) throws MountException {
        Path file = recordFile(vm);
        try {
            return readRecord(file);
        } catch (IOException e) {
            throw new MountException("cannot read " + file + ": " + e.getMessage());
        }
    }

    /** The record in {@code file}; empty when it is gone (the server ended meanwhile) or torn or foreign. */
    private static Optional<Record> readRecord(Path file) throws IOException {
        Properties p = new Properties();
        try (var in = Files.newInputStream(file)) {
            p.load(in);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        try {
            return Optional.of(new Record(p.getProperty("vm"), p.getProperty("uri"), Long.parseLong(p.getProperty("pid"))));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    private void writeRecord(Record r) throws MountException {
        Properties p = new Properties();
        p.setProperty("vm", r.vm());
        p.setProperty("uri", r.uri());
        p.setProperty("pid", Long.toString(r.pid()));
        Path file = recordFile(r.vm());
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + "." + r.pid() + ".tmp");
            try (var o = Files.newOutputStream(tmp)) {
                p.store(o, "dcd serve");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new MountException("cannot write " + file + ": " + e.getMessage());
        }
    }

    private void deleteRecord(String vm) throws MountException {
        try {
            Files.deleteIfExists(recordFile(vm));
        } catch (IOException e) {
            throw new MountException("cannot remove " + recordFile(vm) + ": " + e.getMessage());
        }
    }

    private void deleteRecordIfOwned(String vm, long pid) {
        try {
            Optional<Record> r = recordOf(vm);
            if (r.isPresent() && r.get().pid() == pid) {
                Files.deleteIfExists(recordFile(vm));
            }
        } catch (MountException | IOException e) {
            // Exiting anyway; a record naming a dead pid is cleaned up by the next serve.
        }
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            for (int i = lines.size() - 1; i >= 0; i--) {
                if (!lines.get(i).isBlank()) {
                    return lines.get(i).strip();
                }
            }
        } catch (IOException e) {
            // Fall through.
        }
        return "(no output)";
    }
}
