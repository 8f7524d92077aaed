package dev.dcd.service;

import dev.dcd.backend.Backend;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.TestGate;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlSockets;
import dev.dcd.filter.VdiskLabel;
import dev.dcd.filter.VerifiedVdisk;
import dev.dcd.mount.MountService;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * {@code dcd catalog move APP[@VER] --to BACKEND}: moves an app's vdisk to another backend while VMs read it.
 * The steps, each of which must succeed before the next begins (docs/catalog-move.md says what each failure
 * leaves behind):
 *
 * <ol>
 *   <li>copy: the vdisk is read from the source, every chunk checked against the manifest's CRC32C, and stored on
 *       the target with the backend's atomic put (a half-copied object is never visible there);</li>
 *   <li>verify: the stored copy is read back from the target, header, manifest (its SHA-256 is the content id) and
 *       every chunk checked;</li>
 *   <li>switch the catalog: every app version with that vdisk on the source names the target, in one batch (with
 *       {@code --keep-source}, the same batch records the source copy as kept, so gc leaves it);</li>
 *   <li>switch live servers: every running mount and NBD server is asked over its control channel to re-resolve
 *       the vdisk; each answers once it reads from the target. One that does not answer in time (or refuses)
 *       fails the move: the catalog is switched back, the servers that switched are switched back, and the
 *       source is kept;</li>
 *   <li>delete the source copy, unless kept ({@code --keep-source}) or something still reads it there.</li>
 * </ol>
 */
public final class MoveService {
    /** Bytes per read while copying and verifying: a multiple of the checksum chunk, large enough to stream. */
    static final int COPY_BLOCK = 4 << 20;
    public static final Duration DEFAULT_SERVER_TIMEOUT = Duration.ofSeconds(60);
    /**
     * What becomes of a copy of a vdisk on a backend the catalog does not name for it: gc deletes such a spare copy
     * once no live server reads it there (docs/catalog-move.md).
     */
    static final String SPARE_COPY = "'dcd catalog gc' deletes once no running server reads it there";
    /** What becomes of a copy kept with {@code --keep-source}: the catalog records it, so plain gc leaves it. */
    public static final String KEPT_COPY = "recorded as kept: 'dcd catalog gc' leaves it, 'dcd catalog gc --kept-copies'"
            + " deletes it once no running server reads it there";

    private final DcdEnvironment env;
    /** What stopping the process right now (Ctrl-C) would leave, for the line the CLI prints then; null when idle. */
    private volatile String ifStoppedNow;

    public MoveService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env);
    }

    /**
     * What stopping the process now (Ctrl-C, SIGTERM) leaves, in one phrase, while {@link #move} runs; empty before
     * and after. The CLI prints it from a shutdown hook. A stop lands in one state or the other of the switch (one
     * catalog batch); this says "after" from the moment the batch returned (a stop in the instant between the commit and
     * that is the one case it describes as before).
     */
    public java.util.Optional<String> ifStoppedNow() {
        return java.util.Optional.ofNullable(ifStoppedNow);
    }

    public Moved move(Request request, ProgressSink progress) throws IOException {
        try {
            return moveOnce(request, progress);
        } finally {
            ifStoppedNow = null;
        }
    }

    /** What to move where. */
    public record Request(String app, String to, boolean keepSource, Duration serverTimeout) {
        public Request {
            Objects.requireNonNull(app, "app");
            Objects.requireNonNull(to, "to");
            serverTimeout = serverTimeout == null ? DEFAULT_SERVER_TIMEOUT : serverTimeout;
        }
    }

    /**
     * What a move did.
     *
     * @param switched     app versions now on the target (all that shared the vdisk on the source)
     * @param servers      live servers that switched ("mount of VM web"), in the order asked
     * @param sourceKept   why the source copy was kept, or null when it was deleted
     * @param finished     true when the catalog named the target already and this run finished a move that was
     *                     stopped after its switch ({@code from}: the backends that held a spare copy)
     */
    public record Moved(ContentId id, String from, String to, long bytes, List<AppVersion> switched,
                        List<String> servers, String sourceKept, boolean finished) {
        public Moved(ContentId id, String from, String to, long bytes, List<AppVersion> switched, List<String> servers,
                     String sourceKept) {
            this(id, from, to, bytes, switched, servers, sourceKept, false);
        }
    }

    private Moved moveOnce(Request request, ProgressSink progress) throws IOException {
        Catalog catalog = env.catalog();
        catalog.refresh();
        AppVersion app = catalog.resolve(request.app());
        String from = app.backend();
        String to = request.to();
        catalog.requireBackend(to);
        if (from.equals(to)) {
            return finish(catalog, app, request, progress);
        }
        ContentId id = app.id();
        String before = "the move of " + app.label() + " to " + to + " was stopped before the switch: nothing changed, "
                + app.label() + " stays on " + from + " (a partial copy on " + to + " is never listed, and a later move"
                + " or put sweeps it)";
        String after = "the move of " + app.label() + " to " + to + " was stopped after the switch: " + app.label()
                + " is on " + to + "; its copy on " + from + " stays, " + (request.keepSource()
                ? "--keep-source, " + KEPT_COPY : "a spare copy, which " + SPARE_COPY);
        ifStoppedNow = before;
        Backend source = env.backend(from);
        Backend target = env.backend(to);
        VdiskLabel label = new VdiskLabel(app.label(), from);

        boolean targetHadIt = present(target, id);
        long bytes;
        try {
            bytes = copy(id, source, target, label, progress);
            verify(id, target, new VdiskLabel(app.label(), to), bytes, progress);
        } catch (IOException | RuntimeException e) {
            String cleanup = targetHadIt ? "" : dropCopy(catalog, target, id, to);
            throw new CatalogException("cannot move " + app.label() + " from " + from + " to " + to + ": "
                    + message(e) + "; nothing changed, " + app.label() + " stays on " + from + cleanup, e);
        }

        // The check that the copy is on the target and the switch are one write session: a 'catalog gc' (which
        // deletes spare copies in its own session) cannot take the copy between the two.
        List<AppVersion> switched;
        try {
            switched = catalog.write(() -> {
                if (target.stat(id).isEmpty()) {
                    throw new IOException("the verified copy on " + to + " is gone (a 'catalog gc' deleted it meanwhile?)");
                }
                return catalog.switchBackend(id, from, to, request.keepSource());
            });
            ifStoppedNow = after;
        } catch (IOException e) {
            String cleanup = targetHadIt ? "" : dropCopy(catalog, target, id, to);
            throw new CatalogException("cannot move " + app.label() + " to " + to + ": " + message(e) + "; nothing"
                    + " changed, " + app.label() + " stays on " + from + cleanup, e);
        }
        // Tests hold a real move here (catalog switched, servers not yet asked, source not deleted) to kill it.
        TestGate.pass(TestGate.MOVE_AFTER_SWITCH);
        List<String> servers = new ArrayList<>();
        Map<ControlSockets.Endpoint, String> done = new LinkedHashMap<>();
        List<String> unasked;
        try {
            unasked = switchServers(id, to, request.serverTimeout(), done);
            done.values().forEach(servers::add);
        } catch (IOException e) {
            ifStoppedNow = null; // the undo below says what it leaves
            String undo = undo(catalog, id, from, to, done, request.serverTimeout());
            String cleanup = targetHadIt || !undo.isEmpty() ? "" : dropCopy(catalog, target, id, to);
            throw new CatalogException("cannot move " + app.label() + " to " + to + ": " + e.getMessage()
                    + "; the move was undone, " + app.label() + " stays on " + from + undo + cleanup, e);
        }

        String kept = request.keepSource() ? "--keep-source, " + KEPT_COPY : stillReadOn(catalog, id, from);
        if (kept == null && !unasked.isEmpty()) {
            // Servers that could not be asked (starting, or without a control channel) may have resolved the
            // catalog before the switch: the copy they may read stays until gc finds nobody reads it there.
            kept = String.join("; ", unasked) + "; it stays on " + from + " as a spare copy, which " + SPARE_COPY;
        }
        if (kept == null) {
            try {
                source.delete(id);
            } catch (IOException e) {
                kept = "deleting it failed (" + message(e) + "); it stays on " + from + " as a spare copy, which "
                        + SPARE_COPY;
            }
        }
        return new Moved(id, from, to, bytes, switched, servers, kept);
    }

    // ---------------------------------------------------------------- finishing a stopped move

    /**
     * The same move run again after it was stopped between its switch and its delete: the catalog names the target
     * already and a copy of the vdisk remains on another backend. Verifies the copy on the target, asks every live
     * server to read from the target (as step 5 does), and deletes each spare copy that no server reads any more (a
     * copy recorded as kept, or every copy with {@code --keep-source}, stays). Fails, as before, when no other copy
     * is left: there is nothing to finish.
     */
    private Moved finish(Catalog catalog, AppVersion app, Request request, ProgressSink progress) throws IOException {
        String to = request.to();
        ContentId id = app.id();
        List<AppVersion> users = catalog.usersOf(id);
        List<String> named = users.stream().map(AppVersion::backend).distinct().toList();
        List<String> others = new ArrayList<>();
        for (dev.dcd.catalog.BackendEntry entry : catalog.backends()) {
            if (named.contains(entry.name())) {
                continue;
            }
            try {
                if (present(env.backend(entry.name()), id)) {
                    others.add(entry.name());
                }
            } catch (IOException | RuntimeException e) {
                // A backend that cannot be reached now: a copy there is gc's to find later.
            }
        }
        if (others.isEmpty()) {
            throw new CatalogException("app " + app.label() + " is on backend '" + to + "' already");
        }
        String label = "the move of " + app.label() + " to " + to;
        String spareOn = String.join(", ", others);
        Backend target = env.backend(to);
        long bytes;
        try {
            bytes = target.stat(id).orElseThrow(() -> new IOException("the copy the catalog names is missing there"))
                    .size();
            verify(id, target, new VdiskLabel(app.label(), to), bytes, progress);
        } catch (IOException | RuntimeException e) {
            throw new CatalogException("cannot finish " + label + ": the copy on " + to + " does not verify ("
                    + message(e) + "); nothing changed, the copy on " + spareOn + " stays", e);
        }
        List<String> servers = new ArrayList<>();
        Map<ControlSockets.Endpoint, String> done = new LinkedHashMap<>();
        try {
            switchServers(id, to, request.serverTimeout(), done);
        } catch (IOException e) {
            String switched = done.isEmpty() ? "" : " (" + String.join(", ", done.values()) + " switched to " + to
                    + ", which the catalog names)";
            throw new CatalogException("cannot finish " + label + ": " + e.getMessage() + switched + "; the copy on "
                    + spareOn + " stays, a spare copy, which " + SPARE_COPY, e);
        }
        done.values().forEach(servers::add);
        List<String> keptWhy = new ArrayList<>();
        java.util.Set<String> recorded = new java.util.HashSet<>();
        catalog.keptCopies(id).forEach(k -> recorded.add(k.backend()));
        LiveServers live = new LiveServers(env, request.serverTimeout());
        for (String other : others) {
            if (recorded.contains(other)) {
                keptWhy.add("the copy on " + other + " is " + KEPT_COPY);
                continue;
            }
            if (request.keepSource()) {
                keptWhy.add("the copy on " + other + " stays (--keep-source), a spare copy, which " + SPARE_COPY);
                continue;
            }
            // Decided and deleted in one write session, like gc: a move back onto that backend switches the catalog
            // in its own session, so the copy it names is never the one deleted here.
            String why = catalog.write(() -> {
                if (catalog.usersOf(id).stream().anyMatch(a -> a.backend().equals(other))) {
                    return "the catalog names the copy on " + other + " meanwhile";
                }
                List<String> readers = live.readersOf(id, other);
                if (!readers.isEmpty()) {
                    return "the copy on " + other + " stays: " + String.join("; ", readers) + "; it is a spare copy,"
                            + " which " + SPARE_COPY;
                }
                try {
                    env.backend(other).delete(id);
                    return null;
                } catch (IOException e) {
                    return "deleting the copy on " + other + " failed (" + message(e) + "); it stays, a spare copy,"
                            + " which " + SPARE_COPY;
                }
            });
            if (why != null) {
                keptWhy.add(why);
            }
        }
        List<AppVersion> onTarget = users.stream().filter(a -> a.backend().equals(to)).toList();
        return new Moved(id, spareOn, to, bytes, onTarget, servers, keptWhy.isEmpty() ? null : String.join("; ", keptWhy),
                true);
    }

    // ---------------------------------------------------------------- copy and verify

    private static boolean present(Backend backend, ContentId id) {
        try {
            return backend.stat(id).isPresent();
        } catch (IOException e) {
            return false; // the copy will say why the backend cannot be used
        }
    }

    /** Copies the vdisk, checking every source chunk as it is read: a damaged byte is never copied. */
    private static long copy(ContentId id, Backend source, Backend target, VdiskLabel label, ProgressSink progress)
            throws IOException {
        try (BlockDevice in = VerifiedVdisk.verifying(source::open, x -> label).open(id);
             ProgressSink.Task task = progress.start("copy", in.size());
             InputStream stream = new DeviceStream(in)) {
            target.put(id, stream, in.size(), task);
            return in.size();
        }
    }

    /** Reads the stored copy back from the target and checks header, manifest (the content id) and every chunk. */
    private static void verify(ContentId id, Backend target, VdiskLabel label, long bytes, ProgressSink progress)
            throws IOException {
        try (BlockDevice copy = VerifiedVdisk.verifying(target::open, x -> label).open(id);
             ProgressSink.Task task = progress.start("verify", bytes)) {
            if (copy.size() != bytes) {
                throw new IOException("the copy on " + target.name() + " holds " + copy.size() + " bytes, not " + bytes);
            }
            ByteBuffer buffer = ByteBuffer.allocateDirect(COPY_BLOCK);
            for (long pos = 0; pos < bytes; pos += buffer.capacity()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), bytes - pos));
                copy.read(pos, buffer);
                task.advance(pos + buffer.limit());
            }
        }
    }

    /** Deletes a copy this move stored, unless a catalog row names it there; says what it did, for the message. */
    private static String dropCopy(Catalog catalog, Backend target, ContentId id, String to) {
        try {
            catalog.refresh();
            if (catalog.usersOf(id).stream().anyMatch(a -> a.backend().equals(to))) {
                return "";
            }
            target.delete(id);
            return "";
        } catch (IOException e) {
            return " (the copy on " + to + " could not be removed: " + message(e) + "; it stays there as a spare copy,"
                    + " which " + SPARE_COPY + ")";
        }
    }

    /** A device's bytes in order, as the stream {@link Backend#put} takes. */
    private static final class DeviceStream extends InputStream {
        private final BlockDevice device;
        /** Where the {@code move-during-copy} test gate holds a move: well into the copy, far from its end. */
        private static final long GATE_AFTER_BYTES = 2L * COPY_BLOCK;
        private final ByteBuffer buffer = ByteBuffer.allocate(COPY_BLOCK);
        private long pos;
        private boolean gatePassed;

        DeviceStream(BlockDevice device) {
            this.device = device;
            buffer.limit(0);
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (!buffer.hasRemaining()) {
                if (!gatePassed && pos >= GATE_AFTER_BYTES) {
                    gatePassed = true;
                    TestGate.pass(TestGate.MOVE_DURING_COPY);
                }
                long left = device.size() - pos;
                if (left <= 0) {
                    return -1;
                }
                buffer.clear().limit((int) Math.min(buffer.capacity(), left));
                device.read(pos, buffer);
                pos += buffer.limit();
                buffer.flip();
            }
            int n = Math.min(len, buffer.remaining());
            buffer.get(b, off, n);
            return n;
        }
    }

    // ---------------------------------------------------------------- live servers

    /**
     * Asks every server with a control socket to re-resolve {@code id}; records in {@code done} those that
     * switched. A socket nobody listens on belongs to a server that ended: it reads nothing. A live mount whose
     * generation reads the vdisk but that did not switch fails the move, like one that does not answer.
     *
     * @return why servers that could not be asked may still read the vdisk where it was (a server still starting,
     *         or one without a control channel): the source copy must then stay
     */
    private List<String> switchServers(ContentId id, String to, Duration timeout,
                                       Map<ControlSockets.Endpoint, String> done) throws IOException {
        List<String> answered = new ArrayList<>();
        java.util.Set<String> asked = new java.util.HashSet<>();
        for (ControlSockets.Endpoint server : ControlSockets.list(env.home())) {
            ControlClient.Answer answer;
            try {
                answer = ControlClient.request(server.path(), "resolve " + id.hex() + " " + to, timeout);
            } catch (ConnectException | NoSuchFileException e) {
                continue;
            } catch (IOException e) {
                if (!Files.exists(server.path()) || e.getCause() instanceof ConnectException) {
                    continue;
                }
                throw new IOException("the " + server.describe() + " did not switch: " + e.getMessage(), e);
            }
            if (!answer.ok()) {
                throw new IOException("the " + server.describe() + " did not switch: " + answer.detail());
            }
            asked.add(LiveServers.key(server.kind(), server.vm()));
            if (server.kind().equals(ControlSockets.MOUNT)) {
                answered.add(server.vm());
            }
            if (answer.detail().equals("switched")) {
                done.put(server, server.describe());
            }
        }
        java.util.Set<String> registered = LiveServers.registeredMounts(env);
        for (MountService.LiveMount mount : MountService.liveMountGenerations(env.home())) {
            if (!answered.contains(mount.vm()) && !registered.contains(mount.vm())
                    && LiveServers.generationReads(env, mount, id)) {
                throw new IOException("the mount of VM " + mount.vm() + " at " + mount.mountpoint()
                        + " reads it but has no control channel (mounted by an older dcd? remount it)");
            }
        }
        return LiveServers.unasked(env, asked, id);
    }

    /** Switches the catalog and the servers that had switched back; says what could not be undone. */
    private String undo(Catalog catalog, ContentId id, String from, String to, Map<ControlSockets.Endpoint, String> done,
                        Duration timeout) {
        StringBuilder problems = new StringBuilder();
        try {
            catalog.switchBackend(id, to, from);
        } catch (IOException e) {
            problems.append("; the catalog could not be switched back (").append(message(e)).append(")");
        }
        for (Map.Entry<ControlSockets.Endpoint, String> server : done.entrySet()) {
            try {
                ControlClient.Answer a = ControlClient.request(server.getKey().path(), "resolve " + id.hex() + " " + from,
                        timeout);
                if (!a.ok()) {
                    problems.append("; the ").append(server.getValue()).append(" still reads from ").append(to)
                            .append(" (").append(a.detail()).append("), so the copy there is kept");
                }
            } catch (IOException e) {
                problems.append("; the ").append(server.getValue()).append(" still reads from ").append(to)
                        .append(" (").append(e.getMessage()).append("), so the copy there is kept");
            }
        }
        return problems.toString();
    }

    /** Why the source copy must stay, or null when nothing reads it there any more. */
    private static String stillReadOn(Catalog catalog, ContentId id, String from) throws IOException {
        catalog.refresh();
        for (AppVersion other : catalog.usersOf(id)) {
            if (other.backend().equals(from)) {
                return "app " + other.label() + " still names it on " + from;
            }
        }
        return null;
    }

    private static String message(Throwable e) {
        return dev.dcd.shell.ErrorLine.of(e);
    }
}
