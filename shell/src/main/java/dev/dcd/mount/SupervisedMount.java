package dev.dcd.mount;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A mount whose FUSE connection outlives its server: {@code dcd mount --supervised} (or
 * {@code DCD_MOUNT_SUPERVISED=1}).
 *
 * <p>The <b>supervisor</b> process opens {@code /dev/fuse} and mounts it (root with mount(2); other users
 * through the setuid {@code fusermount}, which passes the descriptor back over a socket), makes the
 * descriptor its own stdin and starts server processes that inherit it as theirs ({@code ProcessBuilder} can
 * pass no other descriptor). While any process holds the descriptor the mount stays connected. Servers take
 * an exclusive lock ({@code $DCD_HOME/mounts/VM.serve.lock}) before they open the VM's disk, so exactly one
 * serves at a time; a second, the <b>standby</b>, is started in advance and waits on that lock with its JVM
 * already up. When the serving process dies the kernel releases its lock, the standby opens the disk, asks the
 * kernel to resend what the dead server had read but not answered ({@code FUSE_NOTIFY_RESEND}) and serves;
 * the supervisor counts the restart, records the new {@code server-pid=} and starts the next standby (with
 * {@link RestartPolicy}'s backoff, giving up with one log line after too many crashes). An unmount ends the
 * connection: the server sees ENODEV, exits 0, and the supervisor ends too; SIGTERM to the supervisor
 * unmounts lazily first.
 *
 * <p>The servers answer with {@link LowLevelFs}, whose node ids and handles any process can serve.
 */
final class SupervisedMount {
    /** The line a server prints (to the supervisor's pipe) once it holds the lock and serves; then its pid. */
    static final String SERVING_MARK = "dcd-fuse: serving pid ";
    /** The line a server prints once it is warm and waits for the lock; then its pid. */
    static final String STANDBY_MARK = "dcd-fuse: standby pid ";
    /** Warm-up rounds a standby runs before it waits (8 requests each). */
    private static final int WARMUP_ROUNDS = 3000;
    /** {@code DCD_MOUNT_SUPERVISED=0}: every {@code dcd mount} serves unsupervised, as {@code --unsupervised}. */
    static final String ENV_SWITCH = "DCD_MOUNT_SUPERVISED";
    static final String ENV_MAX_CRASHES = "DCD_MOUNT_MAX_CRASHES";
    private static final String ENV_SUPERVISOR_PID = "DCD_MOUNT_SUPERVISOR_PID";
    private static final int INHERITED_FD = 0;
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration FUSERMOUNT_TIMEOUT = Duration.ofSeconds(10);

    private SupervisedMount() {
    }

    static Path lockFile(Path home, String vm) {
        return home.resolve("mounts").resolve(MountService.fileName(vm) + ".serve.lock");
    }

    static RestartPolicy policyFromEnvironment() {
        RestartPolicy.Builder b = RestartPolicy.builder();
        String max = System.getenv(ENV_MAX_CRASHES);
        if (max != null && max.matches("\\d+") && Integer.parseInt(max) > 0) {
            b.maxCrashes(Integer.parseInt(max));
        }
        return b.build();
    }

    // ---------------------------------------------------------------- the server (a child of the supervisor)

    /**
     * Serves the connection inherited as stdin: waits for the serving lock, opens the source, has the kernel
     * resend the dead predecessor's requests, then serves until unmounted.
     */
    static void serveInherited(MountService service, MountContext context, String vm, Path mountpoint, int generation,
                               PrintStream log) throws MountException {
        String supervisor = System.getenv(ENV_SUPERVISOR_PID);
        // Killing the supervisor ends the mount: its servers must not keep the connection alive without it.
        if (supervisor != null && !FuseDevice.dieWithParent(Long.parseLong(supervisor))) {
            throw new MountException("the supervisor (pid " + supervisor + ") has gone; not serving");
        }
        FuseDevice device = FuseDevice.of(INHERITED_FD);
        Path lock = lockFile(context.dcdHome(), vm);
        try {
            Files.createDirectories(lock.getParent());
        } catch (IOException e) {
            throw new MountException("cannot create " + lock.getParent() + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
        long pid = ProcessHandle.current().pid();
        try (FileChannel channel = FileChannel.open(lock, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock held = channel.tryLock();
            boolean takeover = held == null;
            if (held == null) {
                // Another server serves: become the warm standby, then wait for its lock (released when it dies).
                long warm = System.nanoTime();
                StandbyWarmup.run(WARMUP_ROUNDS);
                System.out.println(STANDBY_MARK + pid + " ready (warmed up in " + (System.nanoTime() - warm) / 1_000_000
                        + " ms)");
                System.out.flush();
                held = channel.lock();
            }
            // Held until the channel closes, i.e. until this process ends or stops serving.
            long start = System.nanoTime();
            // A reader from before the catalog is read: a move or gc while this server starts keeps what it may read.
            java.io.Closeable reader = MountControl.registerReader(context.dcdHome(),
                    dev.dcd.control.ControlSockets.MOUNT, vm);
            MountSource source;
            try {
                source = service.openSourceFor(vm, generation);
            } catch (MountException | RuntimeException e) {
                MountControl.unregister(reader);
                throw e;
            }
            java.io.Closeable control = null;
            try {
                source.start();
                if (!takeover) {
                    source.awaitStarted(MountSource.OPEN_AHEAD_WAIT);
                }
                // The serving process answers the control channel (catalog move's backend switch); a socket left by
                // the dead predecessor is replaced.
                control = MountControl.start(context.dcdHome(), dev.dcd.control.ControlSockets.MOUNT, vm, source);
                LowLevelFs fs = new LowLevelFs(source, true, Ids.uid(), Ids.gid(), log);
                int resend = device.notifyResend();
                if (resend != 0) {
                    log.println("dcd-fuse: the kernel refused FUSE_NOTIFY_RESEND (errno " + -resend
                            + "); requests a dead server had read stay unanswered");
                }
                int threads = MountService.loopThreads(source);
                System.out.println(SERVING_MARK + pid + " " + source.describe() + " at " + mountpoint + " on " + threads
                        + " loop threads (took over in " + (System.nanoTime() - start) / 1_000_000 + " ms)");
                System.out.flush();
                // A remote backend may hang until its deadline: its reads then wait on I/O threads, never on the loop.
                LowLevelServer.End end = LowLevelServer.serve(device, fs, threads, !source.localOnly(), "dcd-fuse-" + vm,
                        log);
                log.println("dcd-fuse: " + mountpoint + (end == LowLevelServer.End.UNMOUNTED ? " unmounted" : " failed"));
                if (end == LowLevelServer.End.FAILED) {
                    throw new MountException("serving " + vm + " at " + mountpoint + " failed");
                }
            } finally {
                if (control != null) {
                    try {
                        control.close();
                    } catch (IOException e) {
                        log.println("dcd-fuse: closing the control channel: " + dev.dcd.shell.ErrorLine.of(e));
                    }
                }
                try {
                    source.close();
                } catch (IOException e) {
                    log.println("dcd-fuse: closing " + source.describe() + ": " + dev.dcd.shell.ErrorLine.of(e));
                }                MountControl.unregister(reader);
            }
        } catch (IOException e) {
            throw new MountException("cannot lock " + lock + ": " + dev.dcd.shell.ErrorLine.of(e));
        }
    }

    // ---------------------------------------------------------------- the supervisor

    /** What the supervisor's loop reacts to. */
    private sealed interface Event permits Exited, Serving, Ready {
    }

    private record Ready(Process process) implements Event {
    }

    private record Exited(Process process) implements Event {
    }

    private record Serving(Process process) implements Event {
    }

    /** Runs in the detached supervisor process until the mount ends. */
    static void supervise(MountService service, MountContext context, String vm, Path mountpoint, boolean allowOther,
                          int generation, PrintStream log) throws MountException {
        FuseDevice device;
        try {
            // Root mounts with mount(2); other users through the setuid fusermount, which hands the descriptor back.
            device = Ids.uid() == 0 ? FuseDevice.mount(mountpoint, vm, Ids.uid(), Ids.gid(), allowOther)
                    : FuseDevice.mountWithFusermount(mountpoint, vm, allowOther && Ids.userAllowOther(), FUSERMOUNT_TIMEOUT);
            device.duplicateTo(INHERITED_FD);
        } catch (IOException e) {
            throw new MountException("cannot mount " + vm + " at " + mountpoint + ": " + e.getMessage());
        }
        new Supervisor(service, context, vm, mountpoint, allowOther, generation, log, policyFromEnvironment()).run();
    }

    private static final class Supervisor {
        private final MountService service;
        private final MountContext context;
        private final String vm;
        private final Path mountpoint;
        private final boolean allowOther;
        private final int generation;
        private final PrintStream log;
        private final RestartPolicy policy;
        private final long pid = ProcessHandle.current().pid();
        private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
        private final Set<Process> children = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private volatile boolean stopping;
        private Process active;
        /** When each server that announced itself began serving; the next one may announce before this one's exit. */
        private final Map<Process, Long> servingSince = new java.util.HashMap<>();
        private Process standby;
        private int restarts;

        Supervisor(MountService service, MountContext context, String vm, Path mountpoint, boolean allowOther,
                   int generation, PrintStream log, RestartPolicy policy) {
            this.service = service;
            this.context = context;
            this.vm = vm;
            this.mountpoint = mountpoint;
            this.allowOther = allowOther;
            this.generation = generation;
            this.log = log;
            this.policy = policy;
        }

        void run() throws MountException {
            Thread hook = new Thread(this::stopOnSignal, "dcd-supervisor-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            writeRecord();
            log.println("dcd-fuse: supervisor pid " + pid + " holds the FUSE connection of " + mountpoint);
            // Children are started from this thread only: it lives as long as the supervisor.
            start();
            start();
            long nextStartNanos = Long.MAX_VALUE;
            try {
                while (true) {
                    long waitNanos = nextStartNanos == Long.MAX_VALUE ? TimeUnit.SECONDS.toNanos(60)
                            : Math.max(0, nextStartNanos - System.nanoTime());
                    Event e = events.poll(waitNanos, TimeUnit.NANOSECONDS);
                    if (e == null) {
                        if (nextStartNanos != Long.MAX_VALUE && System.nanoTime() >= nextStartNanos) {
                            nextStartNanos = Long.MAX_VALUE;
                            startUpToTwo();
                        }
                        continue;
                    }
                    if (e instanceof Serving s) {
                        active = s.process();
                        servingSince.put(active, System.nanoTime());
                        if (standby == active) {
                            standby = null;
                        }
                        writeRecord();
                        continue;
                    }
                    if (e instanceof Ready r) {
                        if (r.process().isAlive() && r.process() != active) {
                            standby = r.process();
                            writeRecord();
                        }
                        continue;
                    }
                    Process gone = ((Exited) e).process();
                    children.remove(gone);
                    if (stopping || !mounted()) {
                        log.println("dcd-fuse: " + mountpoint + " is unmounted; supervisor " + pid + " ends");
                        stopChildren(false);
                        return;
                    }
                    Long since = servingSince.remove(gone);
                    boolean wasActive = since != null;
                    Duration served = wasActive ? Duration.ofNanos(System.nanoTime() - since) : Duration.ZERO;
                    if (wasActive) {
                        restarts++;
                    }
                    if (gone == active) {
                        active = null;
                    }
                    if (gone == standby) {
                        standby = null;
                    }
                    RestartPolicy.Decision d = policy.onCrash(served);
                    log.println("dcd-fuse: " + (wasActive ? "server" : "standby server") + " pid " + gone.pid()
                            + " ended (" + describeExit(gone) + (wasActive ? " after serving " + served.toMillis() + " ms" : "")
                            + ")" + (wasActive ? "; the standby takes over (restart " + restarts + ")" : ""));
                    boolean serving = active != null && active.isAlive();
                    if (d.giveUp() && !serving) {
                        log.println("dcd-fuse: giving up on " + vm + ": " + d.crashesInWindow() + " server crashes within "
                                + policy.window().toSeconds() + " s; unmounting " + mountpoint);
                        stopping = true;
                        stopChildren(true);
                        FuseDevice.detach(mountpoint);
                        service.deleteRecordIfOwned(vm, pid);
                        throw new MountException("the server of " + vm + " keeps crashing; gave up after "
                                + d.crashesInWindow() + " crashes");
                    }
                    if (wasActive) {
                        writeRecord();
                    }
                    if (d.delay().isZero()) {
                        startUpToTwo();
                    } else {
                        log.println("dcd-fuse: next server in " + d.delay().toMillis() + " ms (" + d.crashesInWindow()
                                + " crashes within " + policy.window().toSeconds() + " s)");
                        if (children.isEmpty()) {
                            // Nobody can take over: requests wait in the kernel until the next server comes.
                            log.println("dcd-fuse: no standby left; requests wait for the next server");
                        }
                        nextStartNanos = System.nanoTime() + d.delay().toNanos();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (!stopping) {
                    stopping = true;
                }
                service.deleteRecordIfOwned(vm, pid);
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // The hook runs now; it stops what is left.
                }
            }
        }

        private boolean mounted() {
            try {
                return MountTable.at(mountpoint).filter(m -> m.fsType().equals("fuse.dcd")).isPresent();
            } catch (IOException e) {
                return true;
            }
        }

        private static String describeExit(Process p) {
            int code = p.exitValue();
            return code > 128 ? "killed by signal " + (code - 128) : "exit code " + code;
        }

        /** Tops up to a server and a standby; one attempt each (a failed start is logged, and retried on the next exit). */
        private void startUpToTwo() {
            for (int missing = 2 - children.size(); missing > 0 && !stopping; missing--) {
                start();
            }
        }

        /** Starts a server; it serves once it gets the lock, i.e. at once if none serves, else as the standby. */
        private void start() {
            List<String> command = new ArrayList<>(context.relaunchPrefix());
            command.add(MountService.SERVE_COMMAND);
            command.add("--inherited-fuse");
            if (allowOther) {
                command.add("--allow-other");
            }
            if (generation > 0) {
                command.add("--generation=" + generation);
            }
            command.add("--");
            command.add(vm);
            command.add(mountpoint.toString());
            Process p;
            try {
                ProcessBuilder pb = new ProcessBuilder(command);
                pb.environment().put(ENV_SUPERVISOR_PID, Long.toString(pid));
                p = pb
                        .redirectInput(ProcessBuilder.Redirect.INHERIT) // the /dev/fuse descriptor
                        .redirectError(ProcessBuilder.Redirect.INHERIT)
                        .start();
            } catch (IOException e) {
                log.println("dcd-fuse: cannot start a server: " + dev.dcd.shell.ErrorLine.of(e));
                return;
            }
            children.add(p);
            Thread reader = new Thread(() -> forward(p), "dcd-supervisor-out-" + p.pid());
            reader.setDaemon(true);
            reader.start();
            p.onExit().thenAccept(x -> events.add(new Exited(x)));
        }

        /** Copies a server's stdout into the log and turns its serving line into an event. */
        private void forward(Process p) {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    log.println(line);
                    if (line.startsWith(SERVING_MARK)) {
                        events.add(new Serving(p));
                    } else if (line.startsWith(STANDBY_MARK)) {
                        events.add(new Ready(p));
                    }
                }
            } catch (IOException e) {
                // The server is gone; its exit is the event that matters.
            }
        }

        /** The record names the serving process and the warm standby (0 while there is none). */
        private void writeRecord() {
            Map<String, String> extra = new LinkedHashMap<>();
            extra.put("server-pid", Long.toString(active == null ? 0 : active.pid()));
            extra.put("standby-pid", Long.toString(standby == null || !standby.isAlive() ? 0 : standby.pid()));
            extra.put("restarts", Integer.toString(restarts));
            extra.put("supervised", "true");
            try {
                service.writeRecord(new MountService.Record(vm, mountpoint, pid), generation, extra);
            } catch (MountException e) {
                log.println("dcd-fuse: " + e.getMessage());
            }
        }

        /** SIGTERM/SIGINT: unmount lazily, so that the servers see the connection end, then stop them. */
        private void stopOnSignal() {
            if (stopping) {
                return;
            }
            stopping = true;
            if (mounted()) {
                int errno = FuseDevice.detach(mountpoint);
                log.println("dcd-fuse: supervisor stopping; " + mountpoint
                        + (errno == 0 ? " unmounted" : " could not be unmounted (errno " + errno + ")"));
            }
            stopChildren(false);
            service.deleteRecordIfOwned(vm, pid);
        }

        /**
         * Ends the servers: standbys (they wait on the lock and would never see the unmount), and the serving one
         * too if {@code all}; otherwise it ends by itself when the unmount reaches it.
         */
        private void stopChildren(boolean all) {
            Set<Process> left = new HashSet<>(children);
            for (Process p : left) {
                if (all || p != active) {
                    p.destroy();
                }
            }
            long deadline = System.nanoTime() + STOP_TIMEOUT.toNanos();
            for (Process p : left) {
                try {
                    if (!p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                        p.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    p.destroyForcibly();
                }
            }
        }
    }
}
