package dev.dcd.backend.lun;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.DirectBufferPool;
import dev.dcd.backend.Progress;
import dev.dcd.backend.UnreachableException;
import dev.dcd.backend.nbd.NbdAddress;
import dev.dcd.backend.nbd.NbdBlockDevice;
import dev.dcd.backend.nbd.NbdClient;
import dev.dcd.backend.nbd.NbdConfig;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * App vdisks side by side inside one LUN, reached over NBD, in dcd's own layout ({@link LunFormat}).
 *
 * <p>A put allocates an extent (first fit), writes the vdisk into it, flushes, and only then commits a table that
 * names it: a put cut short leaves the space free, because no committed table ever named it. Changes to the table
 * are serialised, within this process and across dcd processes on this host (a lock file named after the LUN's
 * id), and each starts by re-reading the committed table, so two importers never take the same space.
 */
final class LunBackend implements Backend {
    private static final int COPY_BUFFER = 1024 * 1024;

    private final String name;
    private final URI uri;
    private final NbdAddress address;
    private final NbdConfig config;
    private final Clock clock;
    private final ReentrantLock changes = new ReentrantLock();
    private final ExecutorService readPool;
    /**
     * One piece per buffer (the largest request, in whole checksum chunks); about one per reading thread: at most
     * {@code connections * pipeline + 2} retained (18 MiB by default).
     */
    private final DirectBufferPool pieceBuffers;
    private NbdClient client;
    private LunVolume volume;

    LunBackend(String name, URI uri, NbdAddress address, NbdConfig config, Clock clock) {
        this.name = name;
        this.uri = uri;
        this.address = address;
        this.config = config;
        this.clock = clock;
        AtomicInteger n = new AtomicInteger();
        int pieceBytes = Math.max(1, config.maxRequestBytes() / VdiskFormat.CHECKSUM_CHUNK) * VdiskFormat.CHECKSUM_CHUNK;
        // One reading thread per request the client may have in flight, so that a readahead window's pieces fill
        // every connection's pipeline.
        int readers = config.connections() * config.pipeline();
        this.pieceBuffers = new DirectBufferPool(pieceBytes, readers + 2);
        this.readPool = Executors.newFixedThreadPool(readers, r -> {
            Thread t = new Thread(r, "dcd-lun-read-" + name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public URI uri() {
        return uri;
    }

    private synchronized NbdClient client() throws IOException {
        if (client == null) {
            try {
                client = NbdClient.open(address, config);
            } catch (IOException e) {
                throw new BackendException(name, null, "cannot reach the LUN: " + e.getMessage(), e);
            }
            if (client.readOnly()) {
                // Reads would work, but dcd must be able to commit its table; say so now, not at the first import.
                client.close();
                client = null;
                throw new BackendException(name, null, "the LUN at " + address + " is exported read-only");
            }
        }
        return client;
    }

    private synchronized LunVolume volume(LunVolume.Mode mode) throws IOException {
        if (volume == null) {
            NbdClient c = client();
            try {
                volume = LunVolume.open(new NbdBlockDevice(c), mode, clock, LunBackend::randomId);
            } catch (LunVolume.Refused e) {
                throw new BackendException(name, null, "LUN " + address + ": " + e.getMessage(), e);
            } catch (IOException e) {
                throw new BackendException(name, null, "cannot open the LUN at " + address + ": " + e.getMessage(), e);
            }
        }
        return volume;
    }

    private LunVolume volume() throws IOException {
        return volume(LunVolume.Mode.FORMAT_IF_BLANK);
    }

    private static byte[] randomId() {
        byte[] id = new byte[16];
        new SecureRandom().nextBytes(id);
        return id;
    }

    /** The committed table as it is on the LUN now (another process may have changed it). */
    private ExtentTable current() throws IOException {
        LunVolume v = volume();
        changes.lock();
        try {
            v.reload();
            return v.table();
        } catch (LunVolume.Refused e) {
            throw new BackendException(name, null, "LUN " + address + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new BackendException(name, null, "reading the extent table failed: " + e.getMessage(), e);
        } finally {
            changes.unlock();
        }
    }

    @FunctionalInterface
    private interface Change<T> {
        T apply(LunVolume volume) throws IOException;
    }

    /** Runs a change of the table with this LUN locked against every other dcd on this host. */
    private <T> T locked(Change<T> change) throws IOException {
        LunVolume v = volume();
        changes.lock();
        Path lockFile = Path.of(System.getProperty("java.io.tmpdir"), "dcd-lun-" + v.header().lunIdHex() + ".lock");
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = channel.lock()) {
            current();
            return change.apply(v);
        } finally {
            changes.unlock();
        }
    }

    /** One connection and handshake within the connect timeout, no retry (see {@link NbdClient#probe}). */
    @Override
    public void reach() throws IOException {
        try {
            NbdClient.probe(address, config);
        } catch (IOException e) {
            String server = address.host().map(h -> h + ":" + address.port())
                    .orElseGet(() -> "unix:" + address.socket().orElseThrow());
            throw UnreachableException.classify(server, address.host().orElse(server), config.connectTimeout(), e)
                    .orElseGet(() -> UnreachableException.failed(e.getMessage() == null ? e.toString() : e.getMessage(), e));
        }
    }

    @Override
    public boolean setUpWhenAdded() {
        return true;
    }

    @Override
    public void prepare(boolean erase) throws IOException {
        volume(erase ? LunVolume.Mode.FORMAT_ANYTHING : LunVolume.Mode.FORMAT_IF_BLANK);
    }

    @Override
    public void put(ContentId id, InputStream data, long length, Progress progress) throws IOException {
        if (length <= 0) {
            throw new IllegalArgumentException("a vdisk has a positive length, not " + length);
        }
        locked(v -> {
            ExtentTable table = v.table();
            Optional<ExtentTable.Extent> existing = table.find(id);
            if (existing.isPresent() && existing.get().length() == length) {
                progress.advance(length);
                return null;
            }
            if (existing.isPresent()) {
                throw new BackendException(name, id.hex(), "the LUN holds this vdisk with " + existing.get().length()
                        + " bytes, not " + length + "; remove it first");
            }
            ExtentTable.Extent extent = table.allocate(id, length).orElseThrow(() -> new BackendException(name, id.hex(),
                    "no room on the LUN: the vdisk needs " + length + " bytes, the largest free range has "
                            + table.freeRanges().stream().mapToLong(ExtentTable.Range::length).max().orElse(0)
                            + " (" + table.free() + " free in all)"));
            ExtentTable next = table.with(extent);
            if (!next.fits()) {
                throw new BackendException(name, id.hex(), "the LUN's extent table is full (" + table.extents().size()
                        + " vdisks)");
            }
            BlockDevice lun = v.device();
            try {
                copy(data, lun, extent.offset(), length, progress);
                lun.flush();
            } catch (IOException e) {
                // Nothing committed names the extent: its space is still free.
                throw new BackendException(name, id.hex(), "put failed: " + describe(e), e);
            }
            try {
                v.commit(next);
            } catch (IOException e) {
                throw new BackendException(name, id.hex(), "committing the extent table failed: " + describe(e), e);
            }
            return null;
        });
    }

    private static void copy(InputStream data, BlockDevice lun, long offset, long length, Progress progress)
            throws IOException {
        byte[] buffer = new byte[COPY_BUFFER];
        long copied = 0;
        while (copied < length) {
            int want = (int) Math.min(buffer.length, length - copied);
            int filled = 0;
            while (filled < want) {
                int n = data.read(buffer, filled, want - filled);
                if (n < 0) {
                    throw new IOException("source ended after " + (copied + filled) + " of " + length + " bytes");
                }
                filled += n;
            }
            lun.write(offset + copied, ByteBuffer.wrap(buffer, 0, filled));
            copied += filled;
            progress.advance(copied);
        }
    }

    @Override
    public BlockDevice open(ContentId id) throws IOException {
        ExtentTable table = volume().table();
        Optional<ExtentTable.Extent> extent = table.find(id);
        if (extent.isEmpty()) {
            extent = current().find(id);
        }
        if (extent.isEmpty()) {
            throw new BackendException(name, id.hex(), "no such vdisk on the LUN at " + address);
        }
        NbdClient c = client();
        LunDevice.Source source = new LunDevice.Source() {
            @Override
            public void read(long lunOffset, ByteBuffer dst, long deadlineNanos) throws IOException {
                c.read(lunOffset, dst, deadlineNanos);
            }

            @Override
            public long deadline() {
                return c.deadline();
            }
        };
        return LunDevice.open(name, extent.get(), source, readPool, pieceBuffers);
    }

    @Override
    public Optional<ObjectStat> stat(ContentId id) throws IOException {
        return current().find(id).map(e -> new ObjectStat(id, e.length()));
    }

    @Override
    public List<ObjectStat> list() throws IOException {
        List<ObjectStat> out = new ArrayList<>();
        for (ExtentTable.Extent e : current().extents()) {
            out.add(new ObjectStat(e.id(), e.length()));
        }
        out.sort((a, b) -> a.id().compareTo(b.id()));
        return out;
    }

    @Override
    public void delete(ContentId id) throws IOException {
        locked(v -> {
            Optional<ExtentTable.Extent> extent = v.table().find(id);
            if (extent.isEmpty()) {
                return null;
            }
            try {
                v.commit(v.table().without(id));
            } catch (IOException e) {
                throw new BackendException(name, id.hex(), "committing the extent table failed: " + describe(e), e);
            }
            // Tell a thin LUN the space is free; the table no longer names it, so a failure here loses nothing.
            try {
                v.device().trim(extent.get().offset(), extent.get().allocated());
            } catch (IOException | UnsupportedOperationException ignored) {
                // Best effort.
            }
            return null;
        });
    }

    @Override
    public Optional<Usage> usage() throws IOException {
        ExtentTable t = current();
        return Optional.of(new Usage(t.capacity(), t.used(), t.free()));
    }

    /** A real round trip: connect, read both headers and the table (checked), and report the layout's state. */
    @Override
    public HealthReport check() {
        long start = System.nanoTime();
        try {
            ExtentTable t = current();
            long latency = System.nanoTime() - start;
            LunHeader h = volume().header();
            return new HealthReport(true, latency, "LUN " + address + ", " + client().size() + " bytes, layout v"
                    + LunFormat.FORMAT_VERSION + " generation " + h.generation() + ", " + t.extents().size()
                    + " vdisk(s), " + t.free() + " of " + t.capacity() + " bytes free");
        } catch (IOException e) {
            // The caller names the backend already.
            String detail = String.valueOf(e.getMessage());
            String prefix = "backend '" + name + "': ";
            return new HealthReport(false, System.nanoTime() - start,
                    detail.startsWith(prefix) ? detail.substring(prefix.length()) : detail);
        }
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    @Override
    public synchronized void close() {
        readPool.shutdownNow();
        try {
            readPool.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (client != null) {
            client.close();
        }
    }

    @Override
    public String toString() {
        return "LUN backend '" + name + "' (" + address + ")";
    }
}
