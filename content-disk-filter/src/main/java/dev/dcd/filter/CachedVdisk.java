package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An app vdisk on a remote backend, read through the shared {@link BlockCache} in whole checksum chunks.
 * The backend is opened only on the first miss, so a fully cached app keeps working while its backend is
 * unreachable. Every chunk is verified against the manifest's CRC32C before it is cached or served; a chunk
 * the backend returns wrong is an error naming app and backend, never data.
 */
final class CachedVdisk implements BlockDevice {
    private final BlockCache cache;
    private final ContentId id;
    private final VdiskLabel label;
    private final VdiskResolver resolver;
    /**
     * This thread's last verified chunk. Sequential requests that do not start on chunk boundaries (128 KiB
     * FUSE reads of a file whose data is 4 KiB-aligned) share a chunk with the request before; keeping it
     * saves reading and checking it again. Content ids name immutable data, so a kept chunk never goes stale.
     */
    private final ThreadLocal<Memo> memo = ThreadLocal.withInitial(Memo::new);

    private static final class Memo {
        int chunk = -1;
        final ByteBuffer buf = ByteBuffer.allocateDirect(BlockCache.CHUNK);
    }
    /** Largest run of missing chunks fetched in one backend read (16 MiB, the largest readahead window). */
    static final int MAX_RUN_CHUNKS = 256;
    /**
     * Buffers for runs of missing chunks, each {@link #MAX_RUN_CHUNKS} chunks, shared by all threads and vdisks
     * and kept between fetches (at most {@link #POOLED_RUN_BUFFERS}). Direct, so storing their chunks in the slab
     * is one write without the JDK's copy to a temporary direct buffer. Shared and kept rather than one per
     * thread: readahead threads come and go (they time out when idle, and each disk has its own), and a new
     * 16 MiB buffer per new thread is memory the kernel must clear, and on a VM whose host takes back freed guest
     * memory, also fault in again (perf: about a third as much time as the slab writes themselves).
     */
    private static final ConcurrentLinkedDeque<ByteBuffer> RUN_BUFFERS = new ConcurrentLinkedDeque<>();
    static final int POOLED_RUN_BUFFERS = 4;
    /** Runs up to this size (a foreground miss of a few chunks) use a buffer of their thread instead. */
    static final int SMALL_RUN_BYTES = 1 << 20;
    private static final ThreadLocal<ByteBuffer> SMALL_RUN = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect(SMALL_RUN_BYTES));
    private static final AtomicInteger POOLED = new AtomicInteger();
    private volatile BlockDevice backend;
    private final ChunkChecksums sums;
    private final long size;

    private CachedVdisk(BlockCache cache, ContentId id, VdiskLabel label, VdiskResolver resolver, BlockDevice backend,
                        ChunkChecksums sums, long size) {
        this.cache = cache;
        this.id = id;
        this.label = label;
        this.resolver = resolver;
        this.backend = backend;
        this.sums = sums;
        this.size = size;
    }

    static CachedVdisk open(BlockCache cache, ContentId id, VdiskLabel label, VdiskResolver resolver) throws IOException {
        BlockCache.CachedManifest known = cache.manifest(id);
        if (known != null) {
            return new CachedVdisk(cache, id, label, resolver, null, known.manifest().checksums(), known.vdiskLength());
        }
        BlockDevice device = resolver.open(id);
        try {
            AppVdisk vdisk = AppVdisk.open(device);
            if (!vdisk.id().equals(id)) {
                throw new IOException("backend returned vdisk " + vdisk.id().shortHex() + " for " + id.shortHex());
            }
            cache.storeManifest(id, vdisk.manifest(), device.size());
            return new CachedVdisk(cache, id, label, resolver, device, vdisk.manifest().checksums(), device.size());
        } catch (IOException | RuntimeException e) {
            device.close();
            throw e;
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    /** Opens the backend's device now unless it is open (a cached manifest lets the slot open without it). */
    void connect() throws IOException {
        backend();
    }

    private BlockDevice backend() throws IOException {
        BlockDevice d = backend;
        if (d == null) {
            synchronized (this) {
                d = backend;
                if (d == null) {
                    d = resolver.open(id);
                    backend = d;
                }
            }
        }
        return d;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.remaining());
        int limit = dst.limit();
        long pos = offset;
        if (dst.hasRemaining() && sums.chunkOf(pos) >= 0
                && cache.getTrustedRun(id, sums, pos, dst.slice(dst.position(), dst.remaining()))) {
            // Warm and stored in order: one pread, like a local vdisk.
            dst.position(limit);
            return;
        }
        try {
            while (dst.position() < limit) {
                int chunk = sums.chunkOf(pos);
                if (chunk < 0) {
                    // Header or manifest bytes: not part of the checksummed data, never cached.
                    long stop = pos < sums.base() ? sums.base() : size;
                    dst.limit((int) Math.min(limit, dst.position() + (stop - pos)));
                    int before = dst.position();
                    backend().read(pos, dst);
                    pos += dst.position() - before;
                    continue;
                }
                long chunkStart = sums.chunkStart(chunk);
                int chunkLength = sums.chunkLength(chunk);
                if (pos == chunkStart && limit - dst.position() >= chunkLength) {
                    // The whole chunk lands in dst: a hit is read and verified in place, no copy.
                    ByteBuffer slice = dst.slice(dst.position(), chunkLength);
                    if (cache.get(id, chunk, sums, slice)) {
                        dst.position(dst.position() + chunkLength);
                        pos += chunkLength;
                        continue;
                    }
                } else {
                    Memo m = memo.get();
                    if (m.chunk == chunk) {
                        cache.countHits(1);
                        pos += copy(m.buf, chunkStart, pos, dst, limit);
                        continue;
                    }
                    // Part of a chunk whose fill already checked out: read just that part, in place.
                    int from = (int) (pos - chunkStart);
                    int n = Math.min(limit - dst.position(), chunkLength - from);
                    if (cache.getTrustedRun(id, sums, pos, dst.slice(dst.position(), n))) {
                        dst.position(dst.position() + n);
                        pos += n;
                        continue;
                    }
                    m.chunk = -1;
                    if (cache.get(id, chunk, sums, m.buf)) {
                        m.chunk = chunk;
                        pos += copy(m.buf, chunkStart, pos, dst, limit);
                        continue;
                    }
                }
                // A miss: fetch it together with the following missing chunks this read also needs, in one
                // backend read, so a remote backend can serve a large (readahead) read with parallel requests
                // instead of one round trip per 64 KiB.
                long end = Math.min(pos + (limit - dst.position()), sums.base() + sums.length());
                pos += fetch(chunk, missingRun(chunk, sums.chunkOf(end - 1)), pos, dst, limit);
            }
        } finally {
            dst.limit(limit);
        }
    }

    /**
     * Brings the chunks of a vdisk range into the cache without copying them anywhere (readahead of a cached
     * backend), running {@code progress} after each batch stored. From a device that verifies as it streams
     * (S3's), each run of missing chunks streams into reserved slots; from any other, a run is fetched in one
     * backend read and verified before it is stored, as on a miss. The reader that follows finds them in the cache.
     */
    void fill(long offset, long length, Runnable progress) throws IOException {
        int first = sums.chunkOf(offset);
        int last = sums.chunkOf(offset + length - 1);
        if (first < 0 || last < 0) {
            return;
        }
        ByteBuffer nothing = ByteBuffer.allocate(0);
        int c = first;
        while (c <= last) {
            if (cache.contains(id, c)) {
                c++;
                continue;
            }
            int run = missingRun(c, last);
            if (backend() instanceof ChunkVerifiedDevice streaming) {
                stream(streaming, c, run, progress);
            } else {
                cache.countMisses(1);
                fetch(c, run, sums.chunkStart(c), nothing, 0);
                progress.run();
            }
            c += run;
        }
    }

    /** The vdisk's chunk geometry and checksums (from its manifest). */
    ChunkChecksums sums() {
        return sums;
    }

    /** True when the chunk has a cache entry (not verified here; reads verify). */
    boolean holds(int chunk) {
        return cache.contains(id, chunk);
    }

    /** Brings chunks {@code [first, first + count)} into the cache, as {@link #fill} does for a byte range. */
    void fillChunks(int first, int count, Runnable progress) throws IOException {
        long start = sums.chunkStart(first);
        long end = sums.chunkStart(first + count - 1) + sums.chunkLength(first + count - 1);
        fill(start, end - start, progress);
    }

    /**
     * Fills a run from a device that verifies as it goes, chunks going into their slots as they arrive: no
     * buffer for the whole run, so each byte is written to memory once on its way to the slab instead of three
     * times (into a fetch buffer, into the run buffer, into the page cache), which on two cores shared with the
     * server is what a cold read's speed comes down to.
     */
    private void stream(ChunkVerifiedDevice device, int first, int count, Runnable progress) throws IOException {
        BlockCache.Reservation reservation = cache.reserve(id, first, count);
        try {
            int missing = 0;
            for (int s : reservation.slotOf) {
                missing += s >= 0 ? 1 : 0;
            }
            if (missing == 0) {
                return;
            }
            cache.countMisses(missing);
            device.streamChunks(first, count, (chunk, data) -> {
                cache.storeReserved(reservation, chunk, data);
                progress.run();
            });
        } finally {
            cache.release(reservation);
        }
    }

    /** Chunks from {@code first} (a miss) up to {@code last} that one backend read fetches: the first and the uncached ones after it. */
    private int missingRun(int first, int last) {
        int run = 1;
        while (first + run <= last && run < MAX_RUN_CHUNKS && !cache.contains(id, first + run)) {
            run++;
        }
        return run;
    }

    /** True when every chunk of the vdisk range has a cache entry (not verified here; reads verify). */
    boolean resident(long offset, long length) {
        int first = sums.chunkOf(offset);
        int last = sums.chunkOf(offset + length - 1);
        if (first < 0 || last < 0) {
            return false;
        }
        for (int c = first; c <= last; c++) {
            if (!cache.contains(id, c)) {
                return false;
            }
        }
        return true;
    }

    /** Copies what {@code dst} wants of one verified chunk held in {@code data}; returns the bytes copied. */
    private static int copy(ByteBuffer data, long chunkStart, long pos, ByteBuffer dst, int limit) {
        int from = (int) (pos - chunkStart);
        int n = Math.min(limit - dst.position(), data.limit() - from);
        dst.limit(dst.position() + n);
        dst.put(data.duplicate().position(from).limit(from + n));
        dst.limit(limit);
        return n;
    }

    /**
     * Reads chunks {@code [first, first + count)} from the backend, verifies each before caching or serving
     * it, and copies the wanted part into {@code dst}. A chunk that fails its checksum ends the read with an
     * error; the good chunks before it are cached and served.
     */
    private long fetch(int first, int count, long pos, ByteBuffer dst, int limit) throws IOException {
        long start = sums.chunkStart(first);
        long length = sums.chunkStart(first + count - 1) + sums.chunkLength(first + count - 1) - start;
        ByteBuffer all;
        ByteBuffer pooled = null;
        if (count == 1) {
            Memo m = memo.get();
            m.chunk = -1;
            all = m.buf;
            all.clear().limit((int) length);
        } else if (length <= SMALL_RUN_BYTES) {
            all = SMALL_RUN.get().clear().limit((int) length);
        } else {
            pooled = takeRunBuffer();
            all = pooled.clear().limit((int) length);
        }
        try {
            return fetchInto(all, first, count, start, pos, dst, limit);
        } finally {
            if (pooled != null) {
                giveRunBuffer(pooled);
            }
        }
    }

    private long fetchInto(ByteBuffer all, int first, int count, long start, long pos, ByteBuffer dst, int limit)
            throws IOException {
        cache.countMisses(count - 1);
        BlockDevice device = backend();
        device.read(start, all);
        all.flip();
        // A device that verified every chunk before returning it (S3's) has done this check on these very bytes.
        boolean verified = device instanceof ChunkVerifiedDevice;
        // The good chunks up to the first bad one are cached (in one go, so they get consecutive slots) and served.
        ByteBuffer[] good = new ByteBuffer[count];
        int n = 0;
        while (n < count) {
            int c = first + n;
            int at = (int) (sums.chunkStart(c) - start);
            ByteBuffer data = all.duplicate().position(at).limit(at + sums.chunkLength(c)).slice();
            if (!verified && !sums.verify(c, data)) {
                break;
            }
            good[n++] = data;
        }
        cache.putRun(id, first, n == count ? good : Arrays.copyOf(good, n));
        long copied = 0;
        for (int i = 0; i < n && dst.position() < limit; i++) {
            copied += copy(good[i], sums.chunkStart(first + i), pos + copied, dst, limit);
        }
        if (n < count) {
            int c = first + n;
            throw new AppReadException(label, "chunk " + c + " of vdisk " + id.shortHex() + " (vdisk bytes "
                    + sums.chunkStart(c) + "..+" + sums.chunkLength(c)
                    + ") does not match its CRC32C checksum; the backend copy is corrupt and was not served", null);
        }
        if (count == 1) {
            memo.get().chunk = first;
        }
        return copied;
    }

    private static ByteBuffer takeRunBuffer() {
        ByteBuffer b = RUN_BUFFERS.pollFirst();
        if (b != null) {
            POOLED.decrementAndGet();
            return b;
        }
        return ByteBuffer.allocateDirect(MAX_RUN_CHUNKS * BlockCache.CHUNK);
    }

    private static void giveRunBuffer(ByteBuffer b) {
        if (POOLED.incrementAndGet() <= POOLED_RUN_BUFFERS) {
            // Most recently used first: the buffer most likely still in the CPU's caches is taken next.
            RUN_BUFFERS.addFirst(b);
        } else {
            POOLED.decrementAndGet();
        }
    }

    @Override
    public String describe() {
        return "cache(" + label.app() + "@" + label.backend() + ")";
    }

    @Override
    public synchronized void close() throws IOException {
        BlockDevice d = backend;
        backend = null;
        if (d != null) {
            d.close();
        }
    }
}
