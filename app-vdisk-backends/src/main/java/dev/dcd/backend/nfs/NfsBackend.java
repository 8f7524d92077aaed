package dev.dcd.backend.nfs;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.Progress;
import dev.dcd.backend.UnreachableException;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskHeader;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;

/**
 * App vdisks as files {@code <content-id>.vdisk} in a directory of an NFS export, spoken to from user space
 * with libnfs over NFSv3 (no kernel client, no root needed).
 *
 * <p>Reads run on {@link NfsWorkers} (one libnfs context per thread) under the configured deadline. A put
 * writes a temporary file in the same directory, COMMITs it and RENAMEs it into place, so no reader ever sees a
 * partial vdisk; a failed put removes its temporary file.
 */
final class NfsBackend implements Backend {
    static final String SUFFIX = ".vdisk";
    /** Temporary files of puts in progress; never listed as vdisks. */
    static final String TEMP_PREFIX = ".dcd-put-";
    /** A temporary file older than this is left over from an interrupted put (a killed process) and is removed. */
    static final long STALE_TEMP_MILLIS = 60 * 60 * 1000L;
    /** Longest a health check waits for one step, whatever the configured deadline. */
    private static final long CHECK_DEADLINE_MS = 5000;
    /** Longest {@link #reach} waits for a connection or for the MOUNT's answer, whatever the configured deadline. */
    static final Duration REACH_TIMEOUT = Duration.ofSeconds(5);
    private static final int PORTMAPPER_PORT = 111;
    /**
     * A link this fast is a server close by (the same host or LAN): the fastest single round trip seen (each
     * worker's LOOKUP as it starts, half the open's stat, which is a LOOKUP and a GETATTR) took less than this. The
     * fastest of several, so a busy moment on a loaded host does not make a near server look far. Then reads run on
     * {@link #FAST_LINK_WORKERS} workers, each pipelining its READs: on loopback with ganesha on the same two cores
     * the device read 1.6x faster on 2 workers than on 8 in most runs (NfsChainBench, docs/nfs-backend.md), since
     * more contexts only add switching where the CPU, not the round trip, is the bound. Slower, the configured
     * maximum: at 20 ms per request, depth in flight is what counts.
     */
    static final long FAST_LINK_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(4);
    static final int FAST_LINK_WORKERS = 2;
    /** Progress is reported each time this much more was written. */
    private static final long PROGRESS_STEP = 8L * 1024 * 1024;

    private final String name;
    private final URI uri;
    private final NfsConfig config;
    private final LibNfs lib;
    private final NfsWorkers workers;
    private final LongSupplier wallMillis;

    NfsBackend(String name, URI uri, NfsConfig config, LibNfs lib, LongSupplier clock, LongSupplier wallMillis) {
        this.name = name;
        this.wallMillis = wallMillis;
        this.uri = uri;
        this.config = config;
        this.lib = lib;
        this.workers = new NfsWorkers(name, config, lib, config.readParallelism(), clock);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public URI uri() {
        return uri;
    }

    static String object(ContentId id) {
        return id.hex() + SUFFIX;
    }

    static String path(ContentId id) {
        return "/" + object(id);
    }

    private long deadline() {
        return workers.deadlineAfter(config.deadline().toMillis());
    }

    // ---- reads ---------------------------------------------------------------------------------------------

    @Override
    public BlockDevice open(ContentId id) throws IOException {
        String object = object(id);
        String path = path(id);
        long deadline = deadline();
        // A mount opens its devices before the guest reads: every worker connects now, in parallel with this open.
        workers.connectAll(path, deadline);
        record Ends(long size, byte[] header, byte[] manifest, long statNanos) {
        }
        Ends ends = workers.call(object, "open", deadline, (session, buffer) -> {
            long statStart = workers.now();
            long size = session.size(path);
            long statNanos = workers.now() - statStart;
            if (size < 0) {
                return new Ends(-1, null, null, statNanos);
            }
            if (size < VdiskFormat.HEADER_SIZE) {
                return new Ends(size, null, null, statNanos);
            }
            byte[] header = read(session, buffer, path, 0, VdiskFormat.HEADER_SIZE);
            VdiskHeader h = VdiskHeader.decode(ByteBuffer.wrap(header), name + ":" + object);
            if (h.totalLength() != size || h.dataOffset() != VdiskFormat.HEADER_SIZE || h.dataLength() < 0
                    || h.dataOffset() + h.dataLength() != h.manifestOffset() || h.manifestLength() > Integer.MAX_VALUE - 8
                    || h.manifestOffset() + h.manifestLength() > size) {
                throw new BackendException(name, object, "file is truncated or has an inconsistent layout (header says "
                        + h.totalLength() + " bytes, file has " + size + ")");
            }
            return new Ends(size, header, read(session, buffer, path, h.manifestOffset(), (int) h.manifestLength()),
                    statNanos);
        });
        workers.noteTurn(ends.statNanos() / 2);
        workers.resize(workersFor(config, workers.fastestTurn()));
        if (ends.size() < 0) {
            throw new BackendException(name, object, "no such vdisk in " + config);
        }
        if (ends.header() == null) {
            throw new BackendException(name, object, "file has " + ends.size() + " bytes, too short to be an app vdisk");
        }
        VdiskHeader h = VdiskHeader.decode(ByteBuffer.wrap(ends.header()), name + ":" + object);
        if (!h.contentId().equals(id)) {
            throw new BackendException(name, object, "file holds vdisk " + h.contentId() + ", not " + id);
        }
        AppVdisk parsed;
        try {
            // Checks the manifest's SHA-256 against the content id: a manifest edited on the export fails here.
            parsed = AppVdisk.open(new NfsDevice(name, object, path, ends.size(), ends.header(), h.manifestOffset(),
                    ends.manifest(), null, workers, config.deadline().toMillis()));
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            throw new BackendException(name, object, e.getMessage());
        }
        ChunkChecksums sums = parsed.manifest().checksums();
        if (sums.base() != h.dataOffset() || sums.length() != h.dataLength()) {
            throw new BackendException(name, object, "manifest and header disagree about the data region");
        }
        return new NfsDevice(name, object, path, ends.size(), ends.header(), h.manifestOffset(), ends.manifest(), sums,
                workers, config.deadline().toMillis());
    }

    /** The workers reads run on, given the fastest round trip seen: see {@link #FAST_LINK_NANOS}. */
    static int workersFor(NfsConfig config, long turnNanos) {
        if (config.readParallelismGiven()) {
            return config.readParallelism();
        }
        return turnNanos < FAST_LINK_NANOS ? Math.min(FAST_LINK_WORKERS, config.readParallelism()) : config.readParallelism();
    }

    /** Reads {@code length} bytes in 1 MiB steps through the worker's buffer. */
    private static byte[] read(NfsSession session, ByteBuffer buffer, String path, long offset, int length) throws IOException {
        byte[] out = new byte[length];
        int done = 0;
        while (done < length) {
            int n = Math.min(buffer.capacity(), length - done);
            session.pread(path, offset + done, buffer, n);
            buffer.get(0, out, done, n);
            done += n;
        }
        return out;
    }

    @Override
    public Optional<ObjectStat> stat(ContentId id) throws IOException {
        long size = workers.call(object(id), "stat", deadline(), (session, buffer) -> session.size(path(id)));
        return size < 0 ? Optional.empty() : Optional.of(new ObjectStat(id, size));
    }

    @Override
    public List<ObjectStat> list() throws IOException {
        return workers.call("(directory " + config.dir() + ")", "list", deadline(), (session, buffer) -> list(session));
    }

    private static List<ObjectStat> list(NfsSession session) throws IOException {
        List<ObjectStat> out = new ArrayList<>();
        for (NfsSession.DirEntry e : session.list("/")) {
            String n = e.name();
            if (e.regular() && n.endsWith(SUFFIX)) {
                ContentId.tryParse(n.substring(0, n.length() - SUFFIX.length()))
                        .ifPresent(id -> out.add(new ObjectStat(id, e.size())));
            }
        }
        out.sort(Comparator.comparing(ObjectStat::id));
        return out;
    }

    @Override
    public void delete(ContentId id) throws IOException {
        workers.call(object(id), "remove", deadline(), (session, buffer) -> {
            session.unlink(path(id));
            return null;
        });
    }

    // ---- writes --------------------------------------------------------------------------------------------

    /**
     * Writes the vdisk under a temporary name on a session of its own (a put takes as long as the bytes take,
     * so it is bounded by libnfs's per-call timeout, not by the read deadline), COMMITs, then RENAMEs it into
     * place. Any failure removes the temporary file and says that nothing was stored.
     */
    @Override
    public void put(ContentId id, InputStream data, long length, Progress progress) throws IOException {
        if (length < 0) {
            throw new IllegalArgumentException("negative length");
        }
        Optional<ObjectStat> existing = stat(id);
        if (existing.isPresent() && existing.get().size() == length) {
            progress.advance(length);
            return;
        }
        String object = object(id);
        sweepStaleTemps();
        String temp = "/" + TEMP_PREFIX + id.hex().substring(0, 16) + "-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong());
        NfsSession session;
        try {
            session = NfsSession.connect(lib, config);
        } catch (NfsSession.NfsError e) {
            throw new BackendException(name, object, "put failed: " + e.getMessage() + "; nothing was stored", e);
        }
        boolean created = false;
        try (session) {
            Pointer fh = session.create(temp);
            created = true;
            try {
                ByteBuffer buffer = ByteBuffer.allocateDirect(NfsSession.MAX_IO);
                byte[] chunk = new byte[NfsSession.MAX_IO];
                long done = 0;
                long reported = 0;
                while (done < length) {
                    int want = (int) Math.min(chunk.length, length - done);
                    int got = data.readNBytes(chunk, 0, want);
                    if (got < want) {
                        throw new IOException("the source ended after " + (done + got) + " of " + length + " bytes");
                    }
                    buffer.clear();
                    buffer.put(chunk, 0, got);
                    session.pwrite(temp, fh, done, buffer.clear(), got);
                    done += got;
                    if (done - reported >= PROGRESS_STEP || done == length) {
                        progress.advance(done);
                        reported = done;
                    }
                }
                if (length == 0) {
                    progress.advance(0);
                }
                session.fsync(temp, fh);
            } finally {
                session.close(fh);
            }
            session.rename(temp, path(id));
            created = false;
        } catch (IOException e) {
            if (created) {
                removeQuietly(temp);
            }
            throw new BackendException(name, object, "put failed: " + e.getMessage() + "; nothing was stored", e);
        }
    }

    /**
     * Removes temporary files of puts that were interrupted (the process was killed between create and rename) more
     * than {@link #STALE_TEMP_MILLIS} ago, judged by their modification time on the server. A put in progress
     * writes its file at least every few seconds, so it is never that old. Best effort: a failure here leaves
     * them for the next put, and never fails this one.
     */
    private void sweepStaleTemps() {
        long cutoffSeconds = (wallMillis.getAsLong() - STALE_TEMP_MILLIS) / 1000;
        try {
            workers.call("(directory " + config.dir() + ")", "sweep", deadline(), (session, buffer) -> {
                for (NfsSession.DirEntry e : session.list("/")) {
                    if (e.regular() && e.name().startsWith(TEMP_PREFIX) && e.mtimeSeconds() < cutoffSeconds) {
                        session.unlink("/" + e.name());
                    }
                }
                return null;
            });
        } catch (IOException ignored) {
            // The put itself reports whether the server is usable.
        }
    }

    /** Best effort on a fresh session: the one that failed may be broken. */
    private void removeQuietly(String temp) {
        try {
            workers.call(temp, "remove", workers.deadlineAfter(CHECK_DEADLINE_MS), (session, buffer) -> {
                session.unlink(temp);
                return null;
            });
        } catch (IOException ignored) {
            // The put's own error is the one to report; a leftover temporary file is never listed as a vdisk.
        }
    }

    // ---- health --------------------------------------------------------------------------------------------

    /**
     * First the server's name and TCP ports from Java (libnfs reports a refused port only as "nfs_service
     * failed"): the MOUNT and NFS ports when the URI gives them, else the portmapper's. Then one MOUNT with
     * libnfs's per-call timeout cut to {@link #REACH_TIMEOUT}, which a server that takes connections but does not
     * answer fails.
     */
    @Override
    public void reach() throws IOException {
        Duration timeout = config.deadline().compareTo(REACH_TIMEOUT) < 0 ? config.deadline() : REACH_TIMEOUT;
        Set<Integer> ports = new LinkedHashSet<>();
        if (config.mountPort() != 0) {
            ports.add(config.mountPort());
        }
        if (config.nfsPort() != 0) {
            ports.add(config.nfsPort());
        }
        if (ports.isEmpty()) {
            ports.add(PORTMAPPER_PORT);
        }
        for (int port : ports) {
            String server = config.host() + ":" + port;
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(config.host(), port), (int) timeout.toMillis());
            } catch (IOException e) {
                throw UnreachableException.classify(server, config.host(), timeout, e)
                        .orElseGet(() -> UnreachableException.failed(server + ": " + e.getMessage(), e));
            }
        }
        try (NfsSession ignored = NfsSession.connect(lib, config.withDeadline(timeout))) {
            // Mounted: the export is there and this host may use it.
        } catch (NfsSession.NfsError e) {
            if (e.permanent()) {
                throw UnreachableException.failed(e.getMessage(), e);
            }
            throw UnreachableException.noAnswer(config.host() + ":" + ports.iterator().next() + " (MOUNT of "
                    + config.dir() + ")", timeout, e);
        }
    }

    /**
     * A listing of the directory (its time, mount included when no worker had one yet, is the reported latency),
     * then a write, COMMIT, read-back and remove of a tiny probe file. Each step reports; the report is ok only
     * when all passed.
     */
    @Override
    public HealthReport check() {
        long start = workers.now();
        int count;
        try {
            count = workers.call("(directory " + config.dir() + ")", "list", workers.deadlineAfter(CHECK_DEADLINE_MS),
                    (session, buffer) -> list(session).size());
        } catch (IOException e) {
            String what = e.getCause() instanceof NfsSession.NfsError n && n.permanent() ? "export refused" : "export unreachable";
            return new HealthReport(false, workers.now() - start, config + ": " + what + ": " + detail(e));
        }
        long latency = workers.now() - start;
        List<String> steps = new ArrayList<>();
        steps.add("export mounted, list ok (" + count + " vdisk" + (count == 1 ? "" : "s") + ", "
                + latency / 1_000_000 + " ms)");
        String probe = "/.dcd-check-" + ProcessHandle.current().pid() + "-" + Long.toHexString(System.nanoTime());
        byte[] payload = ("dcd backend check " + probe).getBytes(StandardCharsets.UTF_8);
        boolean ok = true;
        try {
            workers.call(probe, "probe", workers.deadlineAfter(CHECK_DEADLINE_MS), (session, buffer) -> {
                session.unlink(probe);
                Pointer fh = session.create(probe);
                try {
                    try {
                        buffer.clear().put(payload).clear();
                        session.pwrite(probe, fh, 0, buffer, payload.length);
                        session.fsync(probe, fh);
                    } finally {
                        session.close(fh);
                    }
                    buffer.clear();
                    session.pread(probe, 0, buffer, payload.length);
                    byte[] got = new byte[payload.length];
                    buffer.get(0, got);
                    if (!Arrays.equals(got, payload)) {
                        throw new NfsSession.NfsError("read", probe, LibNfs.EIO, "probe file read back different bytes", true);
                    }
                } finally {
                    session.unlink(probe);
                }
                return null;
            });
            steps.add("probe write/commit/read/remove ok");
        } catch (IOException e) {
            ok = false;
            steps.add("probe FAILED: " + detail(e));
        }
        return new HealthReport(ok, latency, config + ": " + String.join("; ", steps));
    }

    /** The message without the "backend 'NAME', object X: " prefix, for reports that already name both. */
    private String detail(IOException e) {
        String m = String.valueOf(e.getMessage());
        if (e instanceof BackendException b) {
            String prefix = "backend '" + name + "'" + (b.object() == null ? "" : ", object " + b.object()) + ": ";
            if (m.startsWith(prefix)) {
                return m.substring(prefix.length());
            }
        }
        return m;
    }

    @Override
    public void close() {
        workers.close();
    }

    @Override
    public String toString() {
        return "nfs backend '" + name + "' (" + config + ")";
    }
}
