package dev.dcd.mount;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * The mount lifecycle behind {@code dcd mount} and {@code dcd umount}: checks that give one-line errors,
 * a detached serving process, pid files under $DCD_HOME/mounts, stale-mount recovery, and unmounting that
 * names whoever keeps a mount busy.
 */
public final class MountService {
    static final String SERVE_COMMAND = "mount-serve";
    private static final String GENERATION = "generation";
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(15);

    private final MountContext context;
    private final PrintWriter out;
    /** An NBD address ({@code unix:PATH}, {@code tcp://HOST:PORT}) to export the same chain at, or null. */
    private String nbd;
    private Supervise supervise = Supervise.DEFAULT;
    /** Decided per mount from {@link #supervise}: serve through {@link SupervisedMount}. */
    private boolean supervised;

    /** Whether a detached mount is served through a supervisor (see {@link SupervisedMount}). */
    public enum Supervise {
        /**
         * Supervised when it can be (no {@code --nbd}); otherwise one serving process, and one line in the
         * mount's log says why. {@code DCD_MOUNT_SUPERVISED=0} turns it off. {@code --foreground} always serves here.
         */
        DEFAULT,
        /** Supervised, or a one-line error saying why not ({@code --supervised}). */
        REQUIRED,
        /** One serving process, as before supervision existed ({@code --unsupervised}). */
        OFF
    }

    public MountService(MountContext context, PrintWriter out) {
        this.context = context;
        this.out = out;
    }

    /** How to serve a detached mount; {@link Supervise#DEFAULT} unless told otherwise. */
    public MountService supervision(Supervise mode) {
        this.supervise = java.util.Objects.requireNonNull(mode, "mode");
        return this;
    }

    /**
     * Why a {@link Supervise#DEFAULT} mount serves without a supervisor, or null when it is supervised. A foreground
     * mount is not a fallback (it serves in the caller's process by request): "", nothing to log.
     *
     * @param envSwitch the value of {@code DCD_MOUNT_SUPERVISED}, or null
     */
    static String unsupervisedBecause(boolean foreground, boolean nbd, String envSwitch) {
        if (foreground) {
            return "";
        }
        if ("0".equals(envSwitch)) {
            return "DCD_MOUNT_SUPERVISED=0";
        }
        if (nbd) {
            return "--nbd serves NBD from the mount's own process";
        }
        return null;
    }

    /** The line a mount that falls back to one serving process writes to its log. */
    static String fallbackLine(String vm, String reason) {
        return "dcd mount: serving " + vm + " without a supervisor (" + reason + "): if the server dies, the mount"
                + " stays stale until the next dcd mount";
    }

    /** Also serve NBD at {@code address} from the mount's process and chain ("" = the default socket). */
    public MountService withNbd(String address) {
        this.nbd = address;
        return this;
    }

    private String nbdAddress(String vm) throws MountException {
        if (nbd == null) {
            return null;
        }
        String address = nbd.isEmpty() ? "unix:" + dev.dcd.nbd.ServeService.defaultSocket(context.dcdHome(), vm) : nbd;
        try {
            dev.dcd.nbd.NbdEndpoint.parse(address);
        } catch (IllegalArgumentException e) {
            throw new MountException(e.getMessage());
        }
        return address;
    }

    /** Starts the NBD export beside the mount, or returns null when none was asked for. */
    private java.io.Closeable startNbd(String vm, MountSource source) throws MountException {
        String address = nbdAddress(vm);
        if (address == null) {
            return null;
        }
        try {
            dev.dcd.nbd.NbdServer server = dev.dcd.nbd.ServeService.startBeside(vm, source, address);
            out.println("serving " + vm + " over NBD at " + server.uri());
            out.flush();
            return server;
        } catch (IOException e) {
            throw new MountException("cannot serve NBD at " + address + ": " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                System.err.println("dcd-fuse: closing the NBD export or control channel: " + e.getMessage());
            }
        }
    }

    /** What a pid file records about one mount. */
    record Record(String vm, Path mountpoint, long pid) {
        /** Alive and still a JVM: a recycled pid of some other program does not hold a mount. */
        boolean alive() {
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .map(h -> h.info().command().map(c -> c.endsWith("java")).orElse(true))
                    .orElse(false);
        }
    }

    // ---------------------------------------------------------------- mount

    /** Mounts in a detached serving process and returns once the mount answers; or serves here if foreground. */
    public void mount(String vm, Path mountpointArg, boolean foreground, boolean allowOther) throws MountException {
        mount(vm, mountpointArg, foreground, allowOther, 0);
    }

    /**
     * As {@link #mount(String, Path, boolean, boolean)}, serving disk generation {@code generation} (0: the
     * current one). The detached server is told the generation this process opened and recorded, so that the
     * record names exactly what it serves even if a build makes another generation current meanwhile.
     */
    public void mount(String vm, Path mountpointArg, boolean foreground, boolean allowOther, int generation)
            throws MountException {
        context.tools().requireMount(); // before anything is touched or started
        if (supervise == Supervise.REQUIRED && (foreground || nbd != null)) {
            throw new MountException("--supervised runs detached and serves FUSE only: it does not combine with "
                    + (foreground ? "--foreground" : "--nbd"));
        }
        String fallback = supervise == Supervise.DEFAULT ? unsupervisedBecause(foreground, nbd != null,
                System.getenv(SupervisedMount.ENV_SWITCH)) : null;
        supervised = supervise == Supervise.REQUIRED || supervise == Supervise.DEFAULT && fallback == null;
        Path mountpoint = resolve(mountpointArg);
        prepareMountpoint(mountpoint);
        Optional<Record> existing = recordOf(vm);
        if (existing.isPresent()) {
            Record r = existing.get();
            if (r.alive()) {
                throw new MountException("VM " + vm + " is already mounted at " + r.mountpoint() + " (pid " + r.pid() + ")");
            }
            deleteRecord(vm);
        }
        nbd = nbdAddress(vm);
        // Open once here so that a VM without a built disk fails now, with the factory's message, not in a log.
        // In the foreground this process serves what it opens: it is a reader from before the catalog is read.
        java.io.Closeable reader = foreground
                ? MountControl.registerReader(context.dcdHome(), dev.dcd.control.ControlSockets.MOUNT, vm) : () -> { };
        MountSource source;
        try {
            source = openSource(vm, generation);
            if (foreground) {
                serveForeground(vm, source, mountpoint, allowOther);
                return;
            }
        } finally {
            MountControl.unregister(reader);
        }
        int served = source.generation();
        close(source);
        startDetached(vm, mountpoint, allowOther, served, fallback);
    }

    private void serveForeground(String vm, MountSource source, Path mountpoint, boolean allowOther)
            throws MountException {
        long pid = ProcessHandle.current().pid();
        writeRecord(new Record(vm, mountpoint, pid), source.generation());
        Thread cleanup = new Thread(() -> deleteRecordIfOwned(vm, pid));
        Runtime.getRuntime().addShutdownHook(cleanup);
        out.println("serving " + source.describe() + " at " + mountpoint + " (Ctrl-C unmounts)");
        out.flush();
        source.start();
        source.awaitStarted(MountSource.OPEN_AHEAD_WAIT);
        java.io.Closeable export = null;
        java.io.Closeable control = MountControl.start(context.dcdHome(), dev.dcd.control.ControlSockets.MOUNT, vm, source);
        try {
            export = startNbd(vm, source);
            Mounter.serve(source, mountpoint, MountOptions.builder(vm).allowOther(allowOther)
                    .threads(loopThreads(source)).build(), System.err);
        } catch (RuntimeException e) {
            throw new MountException("cannot mount " + vm + " at " + mountpoint + ": " + dev.dcd.shell.ErrorLine.of(e), e);
        } finally {
            closeQuietly(control);
            closeQuietly(export);
            close(source);
            deleteRecordIfOwned(vm, pid);
        }
    }

    /** Local files answer in microseconds; a remote backend's round trips are worth overlapping more widely. */
    static int loopThreads(MountSource source) {
        return source.localOnly() ? MountOptions.LOCAL_THREADS : MountOptions.REMOTE_THREADS;
    }

    /**
     * Starts the serving process (or the supervisor) detached and waits until the mount answers.
     *
     * @param fallback why a mount that would be supervised by default is not (one line in its log), or null
     */
    private void startDetached(String vm, Path mountpoint, boolean allowOther, int generation, String fallback)
            throws MountException {
        Path log = context.dcdHome().resolve("log").resolve("mount-" + fileName(vm) + ".log");
        List<String> command = new ArrayList<>();
        if (supervised) {
            // Not a child of this process: the supervisor is a daemon, reparented to init at once. A process that
            // runs dcd in-process (the shell, tests) would otherwise reap it the instant it is killed, before the
            // kernel has ended the connection its servers still hold for a few ms, and the next request would see
            // ECONNABORTED instead of the stale mount's ENOTCONN. The shell prints the daemon's pid.
            // setsid there: a new session, as below.
            command.addAll(List.of("sh", "-c", "log=$1; shift; setsid \"$@\" </dev/null >>\"$log\" 2>&1 & echo $!",
                    "sh", log.toString()));
        } else {
            // A new session: Ctrl-C in the terminal or shell that ran `dcd mount` must not reach the server.
            command.add("setsid");
        }
        command.addAll(context.relaunchPrefix());
        command.add(SERVE_COMMAND);
        if (supervised) {
            command.add("--supervise");
        }
        if (allowOther) {
            command.add("--allow-other");
        }
        if (generation > 0) {
            command.add("--generation=" + generation);
        }
        if (nbd != null) {
            command.add("--nbd=" + nbd);
        }
        command.add("--");
        command.add(vm);
        command.add(mountpoint.toString());
        if (supervised) {
            startSupervisor(vm, mountpoint, command, log);
            return;
        }
        Process process;
        try {
            Files.createDirectories(log.getParent());
            if (fallback != null && !fallback.isEmpty()) {
                Files.writeString(log, fallbackLine(vm, fallback) + "\n",
                        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            }
            process = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            throw new MountException("cannot start the serving process: " + dev.dcd.shell.ErrorLine.of(e), e);
        }
        try {
            Mounter.awaitReady(mountpoint, () -> process.isAlive() ? null
                    : "the serving process exited with code " + process.exitValue() + ": " + lastLine(log));
        } catch (IOException e) {
            process.destroy();
            cleanupQuietly(mountpoint);
            throw new MountException(dev.dcd.shell.ErrorLine.of(e) + " (log: " + log + ")");
        }
        writeRecord(new Record(vm, mountpoint, process.pid()), generation);
        out.println("mounted " + vm + " at " + mountpoint + " (pid " + process.pid() + ", log " + log + ")");
        if (nbd != null) {
            // The serving process started its NBD export before the FUSE loop answered.
            out.println("NBD export: " + nbd + " (the URI is in the log)");
        }
    }

    /** Starts the supervisor as a daemon through {@code sh}, which prints its pid, and waits for its first server. */
    private void startSupervisor(String vm, Path mountpoint, List<String> command, Path log) throws MountException {
        ProcessHandle supervisor;
        try {
            Files.createDirectories(log.getParent());
            Process sh = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
            String pid = new String(sh.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            if (!sh.waitFor(TOOL_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS) || sh.exitValue() != 0
                    || !pid.matches("\\d+")) {
                sh.destroyForcibly();
                throw new MountException("cannot start the supervisor: " + lastLine(log) + " (log: " + log + ")");
            }
            // Gone already: it failed at once, and its log says why.
            supervisor = ProcessHandle.of(Long.parseLong(pid)).orElse(null);
        } catch (IOException e) {
            throw new MountException("cannot start the supervisor: " + dev.dcd.shell.ErrorLine.of(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MountException("interrupted while starting the supervisor of " + vm);
        }
        try {
            Mounter.awaitReady(mountpoint, () -> supervisor != null && supervisor.isAlive() ? null
                    : "the supervisor exited: " + lastLine(log));
        } catch (IOException e) {
            if (supervisor != null) {
                supervisor.destroy(); // SIGTERM: it unmounts what it mounted and stops its servers
            }
            cleanupQuietly(mountpoint);
            throw new MountException(dev.dcd.shell.ErrorLine.of(e) + " (log: " + log + ")");
        }
        // The supervisor writes its own record; it names the serving process once that one announced itself.
        long serverPid = awaitServerPid(vm, supervisor, log);
        out.println("mounted " + vm + " at " + mountpoint + " (supervisor pid " + supervisor.pid() + ", server pid "
                + serverPid + ", log " + log + ")");
    }

    private long awaitServerPid(String vm, ProcessHandle supervisor, Path log) throws MountException {
        long deadline = System.nanoTime() + Mounter.READY_TIMEOUT.toNanos();
        while (true) {
            long serverPid = recordProperty(recordFile(vm), "server-pid");
            if (serverPid > 0) {
                return serverPid;
            }
            if (supervisor == null || !supervisor.isAlive()) {
                throw new MountException("the supervisor exited: " + lastLine(log) + " (log: " + log + ")");
            }
            if (System.nanoTime() > deadline) {
                throw new MountException("the supervisor of " + vm + " named no server within "
                        + Mounter.READY_TIMEOUT.toSeconds() + " s (log: " + log + ")");
            }
            try {
                Thread.sleep(20); // polling the record the supervisor rewrites; no process of ours to wait on
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MountException("interrupted while waiting for the supervisor of " + vm);
            }
        }
    }

    /** What the record of a supervised mount says about its servers. */
    public record Supervision(long supervisorPid, long serverPid, long standbyPid, long restarts) {
    }

    /** The supervision state of {@code vm}'s mount, if it is a supervised one. */
    public static Optional<Supervision> supervision(Path home, String vm) {
        Path file = home.resolve("mounts").resolve(fileName(vm) + ".pid");
        if (recordProperty(file, "restarts") < 0) {
            return Optional.empty();
        }
        return Optional.of(new Supervision(recordProperty(file, "pid"), recordProperty(file, "server-pid"),
                recordProperty(file, "standby-pid"), recordProperty(file, "restarts")));
    }

    /** A numeric property of a record, or -1. */
    static long recordProperty(Path file, String key) {
        Properties p = new Properties();
        try (var in = Files.newInputStream(file)) {
            p.load(in);
            return Long.parseLong(p.getProperty(key, "-1"));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The supervisor of a supervised mount (hidden {@code mount-serve --supervise}): runs until the mount ends. */
    public void supervise(String vm, Path mountpointArg, boolean allowOther, int generation) throws MountException {
        SupervisedMount.supervise(this, context, vm, resolve(mountpointArg), allowOther, generation, System.err);
    }

    /** A server of a supervised mount (hidden {@code mount-serve --inherited-fuse}): serves the FUSE fd on stdin. */
    public void serveInherited(String vm, Path mountpointArg, int generation) throws MountException {
        SupervisedMount.serveInherited(this, context, vm, resolve(mountpointArg), generation, System.err);
    }

    /** The hidden {@code mount-serve} subcommand: runs in the detached process until unmounted. */
    public void serve(String vm, Path mountpointArg, boolean allowOther) throws MountException {
        serve(vm, mountpointArg, allowOther, 0);
    }

    /** As {@link #serve(String, Path, boolean)}, serving disk generation {@code generation} (0: the current one). */
    public void serve(String vm, Path mountpointArg, boolean allowOther, int generation) throws MountException {
        context.tools().requireLibfuse();
        Path mountpoint = resolve(mountpointArg);
        // Known as a reader before the catalog is read: the parent writes the mount record only once FUSE answers.
        java.io.Closeable reader = MountControl.registerReader(context.dcdHome(), dev.dcd.control.ControlSockets.MOUNT,
                vm);
        MountSource source;
        try {
            source = openSource(vm, generation);
        } catch (MountException | RuntimeException e) {
            MountControl.unregister(reader);
            throw e;
        }
        source.start();
        source.awaitStarted(MountSource.OPEN_AHEAD_WAIT);
        long pid = ProcessHandle.current().pid();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteRecordIfOwned(vm, pid)));
        java.io.Closeable export = null;
        java.io.Closeable control = MountControl.start(context.dcdHome(), dev.dcd.control.ControlSockets.MOUNT, vm, source);
        try {
            export = startNbd(vm, source);
            Mounter.serve(source, mountpoint, MountOptions.builder(vm).allowOther(allowOther)
                    .threads(loopThreads(source)).build(), System.err);
            System.err.println("dcd-fuse: " + mountpoint + " unmounted");
        } catch (RuntimeException e) {
            throw new MountException("cannot mount " + vm + " at " + mountpoint + ": " + dev.dcd.shell.ErrorLine.of(e), e);
        } finally {
            closeQuietly(control);
            closeQuietly(export);
            close(source);
            deleteRecordIfOwned(vm, pid);
            MountControl.unregister(reader);
        }
    }

    /**
     * Refuses a mountpoint that is missing, not a directory, not empty or already mounted; a mount whose
     * server died (ENOTCONN) is cleaned up instead.
     */
    private void prepareMountpoint(Path mountpoint) throws MountException {
        Optional<MountTable.Entry> mounted = mountTableAt(mountpoint);
        if (mounted.isPresent()) {
            MountTable.Entry e = mounted.get();
            if (e.isFuse() && MountTable.isDisconnected(mountpoint)) {
                out.println("cleaning up stale mount at " + mountpoint + " (" + e.source() + ", server gone)");
                String failure = lazyUnmount(mountpoint);
                if (failure != null) {
                    throw new MountException("cannot clean up stale mount at " + mountpoint + ": " + failure);
                }
                forgetRecordsAt(mountpoint);
            } else {
                throw new MountException(mountpoint + " is busy: " + e.source() + " (" + e.fsType() + ") is mounted there");
            }
        }
        if (!Files.exists(mountpoint)) {
            throw new MountException("mountpoint " + mountpoint + " does not exist");
        }
        if (!Files.isDirectory(mountpoint)) {
            throw new MountException("mountpoint " + mountpoint + " is not a directory");
        }
        try (Stream<Path> entries = Files.list(mountpoint)) {
            if (entries.findAny().isPresent()) {
                throw new MountException("mountpoint " + mountpoint + " is busy: not an empty directory");
            }
        } catch (IOException e) {
            throw new MountException("cannot read mountpoint " + mountpoint + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    // ---------------------------------------------------------------- umount

    /** Unmounts; refuses (and says who) while a loop device or a process still uses the mount. */
    public void umount(Path mountpointArg) throws MountException {
        context.tools().requireUmount();
        Path mountpoint = resolve(mountpointArg);
        Optional<MountTable.Entry> entry = mountTableAt(mountpoint);
        if (entry.isEmpty()) {
            forgetRecordsAt(mountpoint);
            throw new MountException(mountpoint + " is not mounted");
        }
        if (!entry.get().fsType().equals("fuse.dcd")) {
            throw new MountException(mountpoint + " is not a dcd mount (" + entry.get().fsType() + ")");
        }
        if (MountTable.isDisconnected(mountpoint)) {
            String failure = lazyUnmount(mountpoint);
            if (failure != null) {
                throw new MountException("cannot clean up stale mount at " + mountpoint + ": " + failure);
            }
            forgetRecordsAt(mountpoint);
            out.println("cleaned up stale mount at " + mountpoint + " (its server had gone)");
            return;
        }
        refuseAnotherHomesMount(mountpoint);
        List<String> loops = loopDevicesOn(mountpoint.resolve("disk.img"));
        if (!loops.isEmpty()) {
            throw new MountException(mountpoint + " is in use: loop device " + String.join(", ", loops)
                    + " is attached to " + mountpoint.resolve("disk.img") + " (detach it with losetup -d)");
        }
        Exec.Result r = Exec.run(TOOL_TIMEOUT, "fusermount", "-u", mountpoint.toString());
        if (!r.ok()) {
            String users = processesUsing(mountpoint);
            throw new MountException("cannot unmount " + mountpoint + ": " + r.message()
                    + (users.isEmpty() ? "" : "; in use by " + users));
        }
        for (Record rec : recordsAt(mountpoint)) {
            awaitExit(rec.pid());
            deleteRecordIfOwned(rec.vm(), rec.pid());
        }
        out.println("unmounted " + mountpoint);
    }

    /**
     * A mount another {@code $DCD_HOME} serves is that home's to unmount: its pid file, log and generation
     * are there, and this home would unmount it without cleaning them up.
     */
    private void refuseAnotherHomesMount(Path mountpoint) throws MountException {
        Path ours = context.dcdHome().toAbsolutePath().normalize();
        for (Record r : recordsAt(mountpoint)) {
            if (r.alive()) {
                return;
            }
        }
        Optional<Path> owner = MountOwners.homeServing(mountpoint);
        if (owner.isPresent() && !sameDirectory(owner.get(), ours)) {
            throw new MountException(mountpoint + " is served by another dcd home, " + owner.get()
                    + ", not " + ours + "; unmount it from there: dcd --home " + owner.get() + " umount " + mountpoint);
        }
    }

    private static boolean sameDirectory(Path a, Path b) {
        if (a.equals(b)) {
            return true;
        }
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** Loop devices backed by the file, by `losetup -j` (which matches the backing file's device and inode). */
    static List<String> loopDevicesOn(Path file) throws MountException {
        Exec.Result r = Exec.run(TOOL_TIMEOUT, "losetup", "-j", file.toString());
        if (r.timedOut()) {
            throw new MountException("losetup -j " + file + " timed out; is the mount hung?");
        }
        List<String> devices = new ArrayList<>();
        for (String line : r.stdout().split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                devices.add(line.substring(0, colon));
            }
        }
        return devices;
    }

    /** "pid 123 (bash), pid 456 (cat)" for processes whose cwd or open files lie in the mount. */
    static String processesUsing(Path mountpoint) {
        List<String> users = new ArrayList<>();
        String prefix = mountpoint.toString();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                if (uses(proc, prefix)) {
                    String comm;
                    try {
                        comm = Files.readString(proc.resolve("comm")).strip();
                    } catch (IOException e) {
                        comm = "?";
                    }
                    users.add("pid " + proc.getFileName() + " (" + comm + ")");
                }
            }
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
        return String.join(", ", users);
    }

    private static boolean uses(Path proc, String prefix) {
        List<Path> links = new ArrayList<>();
        links.add(proc.resolve("cwd"));
        links.add(proc.resolve("root"));
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
            fds.forEach(links::add);
        } catch (IOException e) {
            // A process that went away or that we may not inspect.
        }
        for (Path link : links) {
            try {
                String target = Files.readSymbolicLink(link).toString();
                if (target.equals(prefix) || target.startsWith(prefix + "/")) {
                    return true;
                }
            } catch (IOException | UnsupportedOperationException e) {
                // Gone or not a link: not a user.
            }
        }
        return false;
    }

    /** Detaches a dead FUSE mount; null on success, else why not. */
    private static String lazyUnmount(Path mountpoint) {
        Exec.Result r = Exec.run(TOOL_TIMEOUT, "fusermount", "-u", "-z", mountpoint.toString());
        if (r.ok()) {
            return null;
        }
        Exec.Result u = Exec.run(TOOL_TIMEOUT, "umount", "-l", mountpoint.toString());
        return u.ok() ? null : r.message() + "; " + u.message();
    }

    private static void cleanupQuietly(Path mountpoint) {
        try {
            if (MountTable.at(mountpoint).isPresent()) {
                lazyUnmount(mountpoint);
            }
        } catch (IOException e) {
            // Best effort after a failed start; the error already reported says what went wrong.
        }
    }

    private static void awaitExit(long pid) {
        ProcessHandle.of(pid).ifPresent(h -> {
            try {
                h.onExit().get(EXIT_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                // It unmounted; a slow exit is not the user's problem.
            }
        });
    }

    // ---------------------------------------------------------------- records

    private Path recordsDir() {
        return context.dcdHome().resolve("mounts");
    }

    private Path recordFile(String vm) {
        return recordsDir().resolve(fileName(vm) + ".pid");
    }

    static String fileName(String vm) {
        return URLEncoder.encode(vm, StandardCharsets.UTF_8);
    }

    Optional<Record> recordOf(String vm) throws MountException {
        return readRecord(recordFile(vm));
    }

    private static Optional<Record> readRecord(Path file) throws MountException {
        Properties p = new Properties();
        try (var in = Files.newInputStream(file)) {
            p.load(in);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new MountException("cannot read " + file + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
        try {
            return Optional.of(new Record(p.getProperty("vm"), Path.of(p.getProperty("mountpoint")),
                    Long.parseLong(p.getProperty("pid"))));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * VM name to mountpoint for every mount whose serving process is alive, from the records under
     * {@code home/mounts}. Unreadable records are skipped: one being written right now is not a mount yet.
     */
    public static java.util.SortedMap<String, Path> liveMounts(Path home) throws IOException {
        java.util.SortedMap<String, Path> found = new java.util.TreeMap<>();
        Path dir = home.resolve("mounts");
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.pid")) {
            for (Path f : files) {
                try {
                    readRecord(f).filter(Record::alive).ifPresent(r -> found.put(r.vm(), r.mountpoint()));
                } catch (MountException e) {
                    // skipped, as above
                }
            }
        }
        return found;
    }

    /**
     * A live mount and the generation it serves.
     *
     * @param generation 0 when its record predates generations in records: then any of the VM's generations
     */
    public record LiveMount(String vm, Path mountpoint, int generation) {
    }

    /**
     * Every mount whose serving process is alive, with the generation it serves (records written by this dcd
     * name it); the vdisks of those generations are referenced until the mount ends.
     */
    public static List<LiveMount> liveMountGenerations(Path home) throws IOException {
        List<LiveMount> found = new ArrayList<>();
        Path dir = home.resolve("mounts");
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.pid")) {
            for (Path f : files) {
                Optional<Record> r;
                try {
                    r = readRecord(f).filter(Record::alive);
                } catch (MountException e) {
                    continue;
                }
                if (r.isPresent()) {
                    found.add(new LiveMount(r.get().vm(), r.get().mountpoint(), readGeneration(f)));
                }
            }
        }
        found.sort(java.util.Comparator.comparing(LiveMount::vm));
        return found;
    }

    private static int readGeneration(Path file) {
        Properties p = new Properties();
        try (var in = Files.newInputStream(file)) {
            p.load(in);
            return Integer.parseInt(p.getProperty(GENERATION, "0"));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    List<Record> recordsAt(Path mountpoint) throws MountException {
        List<Record> found = new ArrayList<>();
        if (!Files.isDirectory(recordsDir())) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(recordsDir(), "*.pid")) {
            for (Path f : files) {
                readRecord(f).filter(r -> r.mountpoint().equals(mountpoint)).ifPresent(found::add);
            }
        } catch (IOException e) {
            throw new MountException("cannot read " + recordsDir() + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
        return found;
    }

    private void forgetRecordsAt(Path mountpoint) throws MountException {
        for (Record r : recordsAt(mountpoint)) {
            if (!r.alive()) {
                deleteRecord(r.vm());
            }
        }
    }

    private void writeRecord(Record r, int generation) throws MountException {
        writeRecord(r, generation, java.util.Map.of());
    }

    /** Writes the record with {@code extra} lines too (a supervised mount's {@code server-pid=}, {@code restarts=}). */
    void writeRecord(Record r, int generation, java.util.Map<String, String> extra) throws MountException {
        Properties p = new Properties();
        extra.forEach(p::setProperty);
        p.setProperty("vm", r.vm());
        p.setProperty("mountpoint", r.mountpoint().toString());
        p.setProperty("pid", Long.toString(r.pid()));
        if (generation > 0) {
            p.setProperty(GENERATION, Integer.toString(generation));
        }
        Path file = recordFile(r.vm());
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            try (var o = Files.newOutputStream(tmp)) {
                p.store(o, "dcd mount");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new MountException("cannot write " + file + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    private void deleteRecord(String vm) throws MountException {
        try {
            Files.deleteIfExists(recordFile(vm));
        } catch (IOException e) {
            throw new MountException("cannot remove " + recordFile(vm) + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    /** Removes the record only if it still names this process, so a newer mount's record survives. */
    void deleteRecordIfOwned(String vm, long pid) {
        try {
            Optional<Record> r = recordOf(vm);
            if (r.isPresent() && r.get().pid() == pid) {
                Files.deleteIfExists(recordFile(vm));
            }
        } catch (MountException | IOException e) {
            // Exiting anyway; a leftover record names a dead pid and is cleaned up by the next mount.
        }
    }

    // ---------------------------------------------------------------- helpers

    MountSource openSourceFor(String vm, int generation) throws MountException {
        return openSource(vm, generation);
    }

    private MountSource openSource(String vm, int generation) throws MountException {
        try {
            return context.sources().open(vm, generation);
        } catch (IOException | RuntimeException e) {
            throw new MountException("cannot mount VM " + vm + ": " + dev.dcd.shell.ErrorLine.of(e), e);
        }
    }

    private static void close(MountSource source) {
        try {
            source.close();
        } catch (IOException e) {
            System.err.println("dcd-fuse: closing " + source.describe() + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    private static Optional<MountTable.Entry> mountTableAt(Path mountpoint) throws MountException {
        try {
            return MountTable.at(mountpoint);
        } catch (IOException e) {
            throw new MountException("cannot read the mount table: " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    /**
     * An absolute path with symlinks in the parent resolved; the last element is kept as given because
     * a stale mountpoint cannot be resolved itself.
     */
    static Path resolve(Path mountpoint) throws MountException {
        Path abs = mountpoint.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) {
            throw new MountException("cannot mount on /");
        }
        try {
            return parent.toRealPath().resolve(abs.getFileName());
        } catch (IOException e) {
            throw new MountException("mountpoint " + abs + " does not exist (" + parent + " is missing)");
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
