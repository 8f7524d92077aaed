package dev.dcd.filter;

import dev.dcd.block.FileBlockDevice;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.VdiskFormat;

import java.io.Closeable;
import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;

/**
 * The host-wide cache of app vdisk chunks fetched from remote backends, shared by every VM: keyed by
 * (content id, chunk index) with {@value VdiskFormat#CHECKSUM_CHUNK}-byte chunks. Vdisks are immutable, so
 * an entry is never stale; it is only ever wrong if the bytes under it change, which is why every chunk is
 * checked against the vdisk's CRC32C before it is stored and again the first time it is read back from the slab
 * after every fill and every open (later reads of the same fill are trusted while its slot is provably
 * unchanged: see {@link #get}).
 *
 * <p>Storage (docs/cache-format.md): one slab file of fixed slots plus an index of fixed records, so the
 * cache is bounded by construction and survives restarts; the vdisk manifests (for the checksums) are kept
 * beside them so a cached chunk can be served while its backend is unreachable. Nothing is forced to disk:
 * a torn slot or record fails its checksum at the next read and is simply fetched again.
 */
public final class BlockCache implements Closeable {
    static final String SLAB = "chunks.slab";
    static final String INDEX = "chunks.idx";
    static final String MANIFESTS = "manifests";
    static final int CHUNK = VdiskFormat.CHECKSUM_CHUNK;
    static final byte[] MAGIC = "DCDCACH1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;

    // Index header field offsets.
    static final int H_MAGIC = 0;          // 8 bytes
    static final int H_VERSION = 8;        // u32
    static final int H_CHUNK_SIZE = 12;    // u32
    static final int H_SLOTS = 16;         // u64
    static final int H_CRC = 60;           // u32: CRC32C of bytes [0, 60); bytes 24..59 are zero
    static final int HEADER_SIZE = 64;

    // Index record field offsets (record i describes slab slot i).
    static final int R_CONTENT_ID = 0;     // 32 bytes
    static final int R_CHUNK = 32;         // u32: chunk index within the vdisk's data region
    static final int R_LENGTH = 36;        // u32: valid bytes in the slot (the last chunk may be short)
    static final int R_SEQUENCE = 40;      // u64: insertion order, rebuilds the LRU order at open
    static final int R_FLAGS = 48;         // u32: 1 = slot in use
    static final int R_CRC = 60;           // u32: CRC32C of bytes [0, 60); bytes 52..59 are zero
    static final int RECORD_SIZE = 64;
    static final int USED = 1;

    // Manifest file: u64 vdisk length, then the manifest exactly as encoded in the vdisk.
    static final int M_LENGTH = 0;
    static final int M_MANIFEST = 8;

    private final Path dir;
    private final long slots;
    private final FileChannel slab;
    private final FileChannel index;
    /** LRU order, eldest first; guarded by {@code this}. */
    private final LinkedHashMap<Key, Integer> entries = new LinkedHashMap<>(1024, 0.75f, true);
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final AtomicLong sequence = new AtomicLong();
    /** Held while a writer positions the slab channel and writes through it. */
    private final Object slabWrites = new Object();
    private final LongAdder hits = new LongAdder();
    private final LongAdder misses = new LongAdder();
    private final LongAdder evictions = new LongAdder();
    private final LongAdder corrupt = new LongAdder();
    /**
     * Per slot, a number bumped (under {@code this}) whenever the slot stops holding what it held: taken for a
     * fill (free or evicted) or dropped as corrupt. A reader takes it with the lookup and reads it again after
     * its {@code pread}; equal values prove the bytes it read are the fill it looked up, like a seqlock.
     */
    private final AtomicLongArray generations;
    /**
     * Per slot, guarded by {@code this}: whether the slot's current fill has been read back from the slab and
     * matched its CRC32C. Cleared with every generation bump; all false after {@link #open}.
     */
    private final boolean[] verified;
    /** Hits served without recomputing the CRC32C (the fill was verified on an earlier read), for tests. */
    final LongAdder trustedHits = new LongAdder();
    /** Runs between a hit's lookup and its read of the slab; tests use it to recycle the slot in that window. */
    volatile Runnable afterLookup = () -> {
    };

    record Key(ContentId id, int chunk) {
    }

    /**
     * Counters for {@code dcd stats}: served from cache (of which {@code trusted} without recomputing the CRC32C,
     * their fill having been checked before), fetched, evicted, and cached chunks found corrupt.
     */
    public record Stats(long hits, long trusted, long misses, long evictions, long corrupt, long usedBytes,
                        long capacityBytes) {
    }

    private BlockCache(Path dir, long slots, FileChannel slab, FileChannel index) {
        this.dir = dir;
        this.slots = slots;
        this.slab = slab;
        this.index = index;
        this.generations = new AtomicLongArray((int) slots);
        this.verified = new boolean[(int) slots];
    }

    /**
     * Opens the cache in {@code dir}, creating it if needed, holding at most {@code maxBytes} of chunks.
     * An existing cache with a different capacity is emptied: slots are addressed by number.
     */
    public static BlockCache open(Path dir, long maxBytes) throws IOException {
        long slots = maxBytes / CHUNK;
        if (slots < 1 || slots > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("cache size must be between 64 KiB and 128 TiB, not " + maxBytes + " bytes");
        }
        Files.createDirectories(dir.resolve(MANIFESTS));
        FileChannel index = FileChannel.open(dir.resolve(INDEX), StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileChannel slab = FileChannel.open(dir.resolve(SLAB), StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.SPARSE);
        BlockCache cache = new BlockCache(dir, slots, slab, index);
        try {
            cache.load();
        } catch (IOException | RuntimeException e) {
            cache.close();
            throw e;
        }
        return cache;
    }

    private void load() throws IOException {
        ByteBuffer head = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        boolean valid = index.size() >= HEADER_SIZE;
        if (valid) {
            FileBlockDevice.readFully(index, 0, head, dir.resolve(INDEX).toString());
            valid = Arrays.equals(Arrays.copyOf(head.array(), MAGIC.length), MAGIC)
                    && head.getInt(H_CRC) == crc(head, H_CRC) && head.getInt(H_VERSION) == VERSION
                    && head.getInt(H_CHUNK_SIZE) == CHUNK && head.getLong(H_SLOTS) == slots;
        }
        if (!valid) {
            index.truncate(0);
            slab.truncate(0);
            head.clear();
            head.put(MAGIC).putInt(H_VERSION, VERSION).putInt(H_CHUNK_SIZE, CHUNK).putLong(H_SLOTS, slots);
            head.putInt(H_CRC, crc(head, H_CRC));
            OverlayJournal.writeFully(index, head.position(0), 0);
            for (int i = 0; i < slots; i++) {
                free.add(i);
            }
            return;
        }
        record Loaded(Key key, int slot, long sequence) {
        }
        List<Loaded> loaded = new ArrayList<>();
        boolean[] used = new boolean[(int) slots];
        ByteBuffer buf = ByteBuffer.allocate(RECORD_SIZE * 1024).order(ByteOrder.LITTLE_ENDIAN);
        long maxSequence = 0;
        for (long first = 0; first < slots; first += 1024) {
            long pos = HEADER_SIZE + first * RECORD_SIZE;
            buf.clear();
            int n = Math.max(0, index.read(buf, pos));
            for (int r = 0; (r + 1) * RECORD_SIZE <= n && first + r < slots; r++) {
                ByteBuffer rec = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN).position(r * RECORD_SIZE)
                        .limit((r + 1) * RECORD_SIZE).slice().order(ByteOrder.LITTLE_ENDIAN);
                if (rec.getInt(R_FLAGS) != USED || rec.getInt(R_CRC) != crc(rec, R_CRC)) {
                    continue;
                }
                byte[] id = new byte[ContentId.BYTES];
                rec.get(R_CONTENT_ID, id);
                int slot = (int) (first + r);
                long seq = rec.getLong(R_SEQUENCE);
                loaded.add(new Loaded(new Key(ContentId.of(id), rec.getInt(R_CHUNK)), slot, seq));
                maxSequence = Math.max(maxSequence, seq);
            }
        }
        loaded.sort(Comparator.comparingLong(Loaded::sequence));
        for (Loaded l : loaded) {
            Integer previous = entries.put(l.key(), l.slot());
            if (previous != null) {
                used[previous] = false;
            }
            used[l.slot()] = true;
        }
        for (int i = 0; i < slots; i++) {
            if (!used[i]) {
                free.add(i);
            }
        }
        sequence.set(maxSequence);
    }

    public Path dir() {
        return dir;
    }

    public synchronized Stats stats() {
        return new Stats(hits.sum(), trustedHits.sum(), misses.sum(), evictions.sum(), corrupt.sum(),
                (long) entries.size() * CHUNK, slots * CHUNK);
    }

    /** Bytes the slab file occupies on disk (its allocated blocks), for tests and {@code dcd stats}. */
    public long slabFileBytes() throws IOException {
        return slab.size();
    }

    /**
     * Copies chunk {@code chunk} of {@code id} into {@code into} (cleared first) if it is cached and still
     * matches {@code sums}. A cached chunk that fails its checksum is dropped and counted, never returned.
     *
     * <p>The first read of a fill from the slab is checked against the CRC32C; once a read of it has matched,
     * later reads of the same fill are served without recomputing it, as long as the slot's generation is the
     * same before and after the {@code pread} (any recycle in between bumps it, and the read falls back to the
     * check). The slab's bytes are then exactly the ones that matched, unless something outside dcd rewrote the
     * file; the local backend serves its vdisk files on the same terms (docs/cache-format.md).
     */
    boolean get(ContentId id, int chunk, ChunkChecksums sums, ByteBuffer into) throws IOException {
        Key key = new Key(id, chunk);
        int slot;
        long generation;
        boolean trusted;
        synchronized (this) {
            Integer found = entries.get(key);
            if (found == null) {
                misses.increment();
                return false;
            }
            slot = found;
            generation = generations.get(slot);
            trusted = verified[slot];
        }
        afterLookup.run();
        into.clear().limit(sums.chunkLength(chunk));
        FileBlockDevice.readFully(slab, (long) slot * CHUNK, into, dir.resolve(SLAB).toString());
        into.flip();
        // The slab reads above must not be reordered after the second generation read (seqlock discipline).
        VarHandle.acquireFence();
        boolean unchanged = generations.get(slot) == generation;
        if (trusted && unchanged) {
            trustedHits.increment();
            hits.increment();
            return true;
        }
        if (sums.verify(chunk, into)) {
            if (unchanged) {
                synchronized (this) {
                    // Only if no recycle began since the lookup: then what matched is the slot's current fill.
                    if (generations.get(slot) == generation) {
                        verified[slot] = true;
                    }
                }
            }
            hits.increment();
            return true;
        }
        synchronized (this) {
            // If the slot was recycled while we read it this was a race, not rot; either way, refetch.
            if (generations.get(slot) == generation) {
                entries.remove(key);
                retire(slot);
                free.add(slot);
                corrupt.increment();
            }
        }
        misses.increment();
        return false;
    }

    /** Longest run of chunks {@link #getTrustedRun} reads at once (a 1 MiB request spans at most 17). */
    static final int MAX_TRUSTED_RUN = 32;

    /**
     * Reads {@code dst.remaining()} bytes of the vdisk's data at {@code pos} with one {@code pread}, when every
     * chunk they touch is a verified fill and the chunks sit in consecutive slots (as a sequential fill of free
     * slots leaves them), each slot unchanged around the read (see {@link #get}). False otherwise, and the
     * caller reads chunk by chunk instead (what {@code dst} got is then to be overwritten). Serves part of one
     * chunk as well. A warm sequential request then costs what a read of a local vdisk file costs: one
     * {@code pread}.
     */
    boolean getTrustedRun(ContentId id, ChunkChecksums sums, long pos, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        int first = sums.chunkOf(pos);
        int last = sums.chunkOf(pos + length - 1);
        if (first < 0 || last < 0 || last - first >= MAX_TRUSTED_RUN) {
            return false;
        }
        int count = last - first + 1;
        long[] seen = new long[count];
        int firstSlot;
        synchronized (this) {
            Integer found = entries.get(new Key(id, first));
            if (found == null || !verified[found]) {
                return false;
            }
            firstSlot = found;
            for (int i = 0; i < count; i++) {
                int slot = firstSlot + i;
                if (i > 0 && (slot >= slots || !Integer.valueOf(slot).equals(entries.get(new Key(id, first + i)))
                        || !verified[slot])) {
                    return false;
                }
                seen[i] = generations.get(slot);
            }
        }
        afterLookup.run();
        FileBlockDevice.readFully(slab, (long) firstSlot * CHUNK + (pos - sums.chunkStart(first)), dst,
                dir.resolve(SLAB).toString());
        VarHandle.acquireFence();
        for (int i = 0; i < count; i++) {
            if (generations.get(firstSlot + i) != seen[i]) {
                return false;
            }
        }
        trustedHits.add(count);
        hits.add(count);
        return true;
    }

    /** The slot stops holding its fill: readers that looked it up before will not trust what they read. */
    private void retire(int slot) {
        generations.incrementAndGet(slot);
        verified[slot] = false;
    }

    /** Whether the chunk has an entry (not verified, not counted): lets a miss extend into a run of misses. */
    synchronized boolean contains(ContentId id, int chunk) {
        return entries.containsKey(new Key(id, chunk));
    }

    /** Counts hits served from a reader's copy of a chunk it got from {@link #get} just before. */
    void countHits(int n) {
        hits.add(n);
    }

    /** Counts misses found with {@link #contains} rather than {@link #get}. */
    void countMisses(int n) {
        misses.add(n);
    }

    /** Stores a chunk the caller has already verified; evicts the least recently used chunk when full. */
    void put(ContentId id, int chunk, ByteBuffer data) throws IOException {
        putRun(id, chunk, new ByteBuffer[] {data});
    }

    /**
     * Stores consecutive chunks {@code first, first + 1, ...} the caller has already verified, taking all their
     * slots under one hold of the lock: a fill of free slots then stores them in consecutive slots even while
     * other threads fill too, which lets a later request read them back with one {@code pread}
     * ({@link #getTrustedRun}). Chunks already cached are skipped; evicts the least recently used when full.
     */
    void putRun(ContentId id, int first, ByteBuffer[] chunks) throws IOException {
        storeRuns(id, first, reserve(id, first, chunks.length).slotOf, chunks);
    }

    /**
     * Stores {@code chunks[i]} (chunk {@code first + i}) into {@code slotOf[i]}, skipping -1: each run of
     * consecutive slots with one write (only a run's last chunk may be short). After a failure the remaining
     * slots are freed and the first failure thrown; every slot passed in ends mapped or free.
     */
    private void storeRuns(ContentId id, int first, int[] slotOf, ByteBuffer[] chunks) throws IOException {
        IOException failure = null;
        int i = 0;
        while (i < chunks.length) {
            if (slotOf[i] < 0) {
                i++;
                continue;
            }
            int end = i + 1;
            while (end < chunks.length && slotOf[end] == slotOf[end - 1] + 1 && chunks[end - 1].remaining() == CHUNK) {
                end++;
            }
            if (failure == null) {
                try {
                    store(id, first, slotOf, chunks, i, end);
                } catch (IOException e) {
                    failure = e;
                }
            } else {
                synchronized (this) {
                    for (int k = i; k < end; k++) {
                        free.add(slotOf[k]);
                    }
                }
            }
            i = end;
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Slots taken ahead for chunks {@code [first, first + slotOf.length)} of a vdisk that arrive later, in pieces
     * and from several threads ({@link #storeReserved}): the slots are taken in one go, so they are consecutive
     * as with {@link #putRun}. {@code slotOf[i]} is -1 for a chunk that was cached already or has been stored.
     */
    static final class Reservation {
        final ContentId id;
        final int first;
        final int[] slotOf;

        private Reservation(ContentId id, int first, int[] slotOf) {
            this.id = id;
            this.first = first;
            this.slotOf = slotOf;
        }
    }

    /** Takes slots for the chunks of {@code [first, first + count)} not cached yet; {@link #release} ends it. */
    Reservation reserve(ContentId id, int first, int count) {
        int[] slotOf = new int[count];
        synchronized (this) {
            for (int i = 0; i < count; i++) {
                slotOf[i] = entries.containsKey(new Key(id, first + i)) ? -1 : takeSlot();
            }
        }
        return new Reservation(id, first, slotOf);
    }

    /**
     * Stores verified chunks {@code firstChunk, ...} held back to back in {@code data} (each {@link #CHUNK} bytes
     * but the vdisk's last) into their reserved slots, a run of consecutive slots with one write. Chunks the
     * reservation does not hold a slot for are skipped. Threads may store disjoint chunks of one reservation at
     * once.
     */
    void storeReserved(Reservation r, int firstChunk, ByteBuffer data) throws IOException {
        int n = (data.remaining() + CHUNK - 1) / CHUNK;
        int from = firstChunk - r.first;
        if (from < 0 || from + n > r.slotOf.length) {
            throw new IllegalArgumentException("chunks [" + firstChunk + ", +" + n + ") outside the reservation");
        }
        ByteBuffer[] chunks = new ByteBuffer[n];
        int[] slotOf = new int[n];
        for (int i = 0; i < n; i++) {
            int at = data.position() + i * CHUNK;
            chunks[i] = data.slice(at, Math.min(CHUNK, data.limit() - at));
            slotOf[i] = r.slotOf[from + i];
            // Handed over: from here store() maps the slot or frees it, whatever happens.
            r.slotOf[from + i] = -1;
        }
        storeRuns(r.id, firstChunk, slotOf, chunks);
    }

    /** Gives back the slots of chunks never stored (the fetch failed or stopped early). */
    void release(Reservation r) {
        synchronized (this) {
            for (int i = 0; i < r.slotOf.length; i++) {
                if (r.slotOf[i] >= 0) {
                    free.add(r.slotOf[i]);
                    r.slotOf[i] = -1;
                }
            }
        }
    }

    /** A free slot, or the least recently used entry's, its generation bumped; -1 if the cache has no slot. */
    private int takeSlot() {
        int slot;
        if (free.isEmpty()) {
            Iterator<Map.Entry<Key, Integer>> eldest = entries.entrySet().iterator();
            if (!eldest.hasNext()) {
                return -1;
            }
            slot = eldest.next().getValue();
            eldest.remove();
            evictions.increment();
        } else {
            slot = free.poll();
        }
        retire(slot);
        return slot;
    }

    /**
     * Writes chunks {@code [from, to)} of a run, whose slots are consecutive, with one gathering write into the
     * slab and one write of their index records, then maps them (or frees the slots).
     *
     * <p>The slab write goes through the channel's position, so slab writers take turns on {@link #slabWrites}
     * (positional reads are unaffected). Two threads writing the same file at once would serialize on the inode's
     * lock in the kernel anyway, where the one waiting spins on a CPU: perf showed the readahead threads spending
     * about a tenth of their time in {@code rwsem_spin_on_owner} when each 64 KiB chunk was its own {@code pwrite}.
     */
    private void store(ContentId id, int first, int[] slotOf, ByteBuffer[] chunks, int from, int to) throws IOException {
        int n = to - from;
        boolean stored = false;
        try {
            ByteBuffer[] data = new ByteBuffer[n];
            for (int k = 0; k < n; k++) {
                data[k] = chunks[from + k].duplicate();
            }
            long at = (long) slotOf[from] * CHUNK;
            long length = 0;
            for (ByteBuffer d : data) {
                length += d.remaining();
            }
            synchronized (slabWrites) {
                slab.position(at);
                long written = 0;
                while (written < length) {
                    written += slab.write(data);
                }
            }
            ByteBuffer records = ByteBuffer.allocate(n * RECORD_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            for (int k = 0; k < n; k++) {
                ByteBuffer rec = records.slice(k * RECORD_SIZE, RECORD_SIZE).order(ByteOrder.LITTLE_ENDIAN);
                rec.put(R_CONTENT_ID, id.bytes()).putInt(R_CHUNK, first + from + k)
                        .putInt(R_LENGTH, chunks[from + k].remaining())
                        .putLong(R_SEQUENCE, sequence.incrementAndGet()).putInt(R_FLAGS, USED);
                rec.putInt(R_CRC, crc(rec, R_CRC));
            }
            OverlayJournal.writeFully(index, records, HEADER_SIZE + (long) slotOf[from] * RECORD_SIZE);
            stored = true;
        } finally {
            synchronized (this) {
                for (int k = from; k < to; k++) {
                    Key key = new Key(id, first + k);
                    if (stored && !entries.containsKey(key)) {
                        entries.put(key, slotOf[k]);
                    } else {
                        free.add(slotOf[k]);
                    }
                }
            }
        }
    }

    /** The manifest stored for {@code id} (and the vdisk's length), or null if absent or not matching the id. */
    CachedManifest manifest(ContentId id) {
        Path file = dir.resolve(MANIFESTS).resolve(id.hex() + ".manifest");
        try {
            if (!Files.exists(file)) {
                return null;
            }
            byte[] bytes = Files.readAllBytes(file);
            if (bytes.length < M_MANIFEST) {
                return null;
            }
            long length = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(M_LENGTH);
            Manifest manifest = Manifest.decode(Arrays.copyOfRange(bytes, M_MANIFEST, bytes.length));
            return manifest.contentId().equals(id) ? new CachedManifest(manifest, length) : null;
        } catch (IOException e) {
            return null;
        }
    }

    void storeManifest(ContentId id, Manifest manifest, long vdiskLength) throws IOException {
        byte[] encoded = manifest.encode();
        ByteBuffer out = ByteBuffer.allocate(M_MANIFEST + encoded.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(M_LENGTH, vdiskLength).position(M_MANIFEST);
        out.put(encoded);
        Path file = dir.resolve(MANIFESTS).resolve(id.hex() + ".manifest");
        Path tmp = Files.createTempFile(file.getParent(), "." + id.hex(), ".tmp");
        try {
            Files.write(tmp, out.array());
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    record CachedManifest(Manifest manifest, long vdiskLength) {
    }

    private static int crc(ByteBuffer b, int length) {
        CRC32C c = new CRC32C();
        c.update(b.duplicate().position(0).limit(length));
        return (int) c.getValue();
    }

    @Override
    public void close() throws IOException {
        try {
            slab.close();
        } finally {
            index.close();
        }
    }
}
