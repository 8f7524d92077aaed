package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.FileBlockDevice;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

import static dev.dcd.filter.OverlayJournal.BLOCK_SHIFT;
import static dev.dcd.filter.OverlayJournal.BLOCK_SIZE;

/**
 * Copy-on-write overlay: every guest write lands in this generation's own overlay (overlay.data, a sparse
 * file at the guest's offsets, plus the overlay.map journal), never in the layers below. Reads of written
 * 4 KiB blocks come from the overlay; a partial write to a block not yet in the overlay reads the lower
 * block first and merges. Trim drops whole overlay blocks so they read as the lower layer again (as nbdkit's
 * cow filter does); the partial blocks at a trim's edges keep their data. Zero writes zeros.
 *
 * <p>Flush forces overlay.data, then appends the journal records of the writes it covers and forces the
 * journal: a block is marked written on disk only once its bytes are durable.
 */
public final class OverlayFilter extends Filter {
    static final String DATA_FILE = "overlay.data";
    private static final int STRIPES = 256;
    private static final int PENDING_INITIAL = OverlayJournal.RECORD_SIZE * 1024;

    private final Path dir;
    private final FileChannel data;
    private final FileChannel map;
    private final BlockBitmap bitmap;
    private final long size;
    /** Orders bitmap changes with their journal records; held for microseconds, never across I/O. */
    private final ReentrantLock journalLock = new ReentrantLock();
    private final ReentrantLock flushLock = new ReentrantLock();
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final ThreadLocal<ByteBuffer> blockBuffer = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(BLOCK_SIZE));
    private ByteBuffer pending = newPending(PENDING_INITIAL);
    private long pendingLastType = -1;
    private long pendingLastFirst;
    private long pendingLastCount;
    private long mapEnd;
    private volatile boolean anyWritten;

    private OverlayFilter(ExtendedBlockDevice next, Path dir, FileChannel data, FileChannel map, BlockBitmap bitmap,
                          long mapEnd) {
        super(next);
        this.dir = dir;
        this.data = data;
        this.map = map;
        this.bitmap = bitmap;
        this.size = next.size();
        this.mapEnd = mapEnd;
        this.anyWritten = bitmap.setCount() > 0;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /** Opens (creating on first use) the overlay stored in {@code dir} on top of {@code next}. */
    public static OverlayFilter open(ExtendedBlockDevice next, Path dir) throws IOException {
        long size = next.size();
        Path mapFile = dir.resolve(OverlayJournal.FILE);
        Path dataFile = dir.resolve(DATA_FILE);
        boolean created = false;
        if (!Files.exists(mapFile)) {
            // Data file first: a map without its data file would be a broken overlay, the reverse is harmless.
            createSparse(dataFile, size);
            Path tmp = dir.resolve(OverlayJournal.FILE + ".new");
            try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                OverlayJournal.writeFully(c, OverlayJournal.header(size), 0);
                c.force(true);
            }
            Files.move(tmp, mapFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            OverlayJournal.forceDirectory(dir);
            created = true;
        } else if (!Files.exists(dataFile)) {
            throw new IOException(dataFile + " is missing but " + mapFile + " exists; the overlay is damaged");
        }
        BlockBitmap bitmap = new BlockBitmap((size + BLOCK_SIZE - 1) >>> BLOCK_SHIFT);
        FileChannel map = FileChannel.open(mapFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileChannel data = null;
        try {
            long mapEnd = OverlayJournal.HEADER_SIZE;
            if (!created) {
                OverlayJournal.Replay replay = OverlayJournal.replay(map, mapFile, size, bitmap);
                long[] runs = {0};
                bitmap.forEachRun((f, c) -> runs[0]++);
                if (OverlayJournal.worthCompacting(replay.records(), runs[0]) || replay.tornTail()) {
                    map.close();
                    OverlayJournal.compact(dir, size, bitmap);
                    map = FileChannel.open(mapFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
                    mapEnd = map.size();
                } else {
                    mapEnd = replay.validBytes();
                }
            }
            data = FileChannel.open(dataFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
            if (data.size() < size) {
                throw new IOException(dataFile + " holds " + data.size() + " bytes, the disk has " + size);
            }
            return new OverlayFilter(next, dir, data, map, bitmap, mapEnd);
        } catch (IOException | RuntimeException e) {
            map.close();
            if (data != null) {
                data.close();
            }
            throw e;
        }
    }

    /** True when the generation in {@code dir} holds guest writes that a flush made durable. */
    public static boolean hasWrites(Path dir) throws IOException {
        Path mapFile = dir.resolve(OverlayJournal.FILE);
        if (!Files.exists(mapFile)) {
            return false;
        }
        try (FileChannel map = FileChannel.open(mapFile, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(OverlayJournal.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            FileBlockDevice.readFully(map, 0, head, mapFile.toString());
            long size = head.getLong(OverlayJournal.H_DISK_SIZE);
            BlockBitmap bitmap = new BlockBitmap((size + BLOCK_SIZE - 1) >>> BLOCK_SHIFT);
            OverlayJournal.replay(map, mapFile, size, bitmap);
            return bitmap.setCount() > 0;
        }
    }

    private static void createSparse(Path file, long size) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
            raf.getFD().sync();
        }
    }

    private static ByteBuffer newPending(int capacity) {
        return ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    protected String filterName() {
        return "cow";
    }

    @Override
    public Capabilities capabilities() {
        return next.capabilities().withWritable(true).withFlush(true).withTrim(true).withZero(true)
                .withExtents(true);
    }

    /** Blocks currently in the overlay (written and not trimmed since). */
    public long writtenBlocks() {
        journalLock.lock();
        try {
            return bitmap.setCount();
        } finally {
            journalLock.unlock();
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        BlockDevice.checkRange(this, offset, length);
        if (length == 0) {
            return;
        }
        long first = offset >>> BLOCK_SHIFT;
        long last = (offset + length - 1) >>> BLOCK_SHIFT;
        if (!anyWritten || !bitmap.any(first, last)) {
            next.read(offset, dst);
            return;
        }
        int limit = dst.limit();
        long end = offset + length;
        long pos = offset;
        try {
            while (pos < end) {
                long block = pos >>> BLOCK_SHIFT;
                boolean written = bitmap.get(block);
                long runEnd = Math.min(end, bitmap.runEnd(block, last, written) << BLOCK_SHIFT);
                dst.limit(dst.position() + (int) (runEnd - pos));
                if (written) {
                    FileBlockDevice.readFully(data, pos, dst, dir.resolve(DATA_FILE).toString());
                } else {
                    next.read(pos, dst);
                }
                pos = runEnd;
            }
        } finally {
            dst.limit(limit);
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        int length = src.remaining();
        BlockDevice.checkRange(this, offset, length);
        if (length == 0) {
            return;
        }
        long end = offset + length;
        long first = offset >>> BLOCK_SHIFT;
        long last = (end - 1) >>> BLOCK_SHIFT;
        int limit = src.limit();
        try {
            long pos = offset;
            // Head: a block the write covers only partly.
            if ((offset & (BLOCK_SIZE - 1)) != 0 || end < ((first + 1) << BLOCK_SHIFT)) {
                long stop = Math.min(end, (first + 1) << BLOCK_SHIFT);
                src.limit(src.position() + (int) (stop - pos));
                writePartial(first, pos, src);
                pos = stop;
                first++;
            }
            if (pos >= end) {
                return;
            }
            // Tail: the last block, when the write ends inside it.
            long tailStart = end;
            if ((end & (BLOCK_SIZE - 1)) != 0) {
                tailStart = last << BLOCK_SHIFT;
            }
            if (tailStart > pos) {
                src.limit(src.position() + (int) (tailStart - pos));
                OverlayJournal.writeFully(data, src, pos);
                mark(first, (tailStart - pos) >>> BLOCK_SHIFT, true);
                pos = tailStart;
            }
            if (pos < end) {
                src.limit(limit);
                writePartial(last, pos, src);
            }
        } finally {
            src.limit(limit);
        }
    }

    /** Writes part of one block; a block not yet in the overlay is first copied up from the layer below. */
    private void writePartial(long block, long pos, ByteBuffer src) throws IOException {
        ReentrantLock stripe = stripes[(int) (block & (STRIPES - 1))];
        stripe.lock();
        try {
            if (bitmap.get(block)) {
                OverlayJournal.writeFully(data, src, pos);
                return;
            }
            long blockStart = block << BLOCK_SHIFT;
            int blockLength = (int) Math.min(BLOCK_SIZE, size - blockStart);
            ByteBuffer buf = blockBuffer.get();
            buf.clear().limit(blockLength);
            next.read(blockStart, buf);
            buf.position((int) (pos - blockStart));
            buf.put(src);
            buf.clear().limit(blockLength);
            OverlayJournal.writeFully(data, buf, blockStart);
            mark(block, 1, true);
        } finally {
            stripe.unlock();
        }
    }

    /** Changes bits and queues the matching journal record in one step, so both orders agree. */
    private void mark(long first, long count, boolean written) {
        if (count <= 0) {
            return;
        }
        byte type = written ? OverlayJournal.WRITTEN : OverlayJournal.DISCARDED;
        journalLock.lock();
        try {
            bitmap.assign(first, count, written);
            if (written) {
                anyWritten = true;
            }
            // Sequential writes extend the previous record instead of adding one per request.
            if (pendingLastType == type && pendingLastFirst + pendingLastCount == first
                    && pendingLastCount + count <= 0xFFFF_FFFFL && pending.position() >= OverlayJournal.RECORD_SIZE) {
                pendingLastCount += count;
                pending.position(pending.position() - OverlayJournal.RECORD_SIZE);
                OverlayJournal.putRecord(pending, type, pendingLastFirst, pendingLastCount);
                return;
            }
            for (long f = first; f < first + count; f += 0xFFFF_FFFFL) {
                if (pending.remaining() < OverlayJournal.RECORD_SIZE) {
                    ByteBuffer bigger = newPending(pending.capacity() * 2);
                    bigger.put(pending.flip());
                    pending = bigger;
                }
                long n = Math.min(0xFFFF_FFFFL, first + count - f);
                OverlayJournal.putRecord(pending, type, f, n);
                pendingLastType = type;
                pendingLastFirst = f;
                pendingLastCount = n;
            }
        } finally {
            journalLock.unlock();
        }
    }

    @Override
    public void flush() throws IOException {
        flushLock.lock();
        try {
            ByteBuffer batch;
            journalLock.lock();
            try {
                batch = pending.flip();
                pending = newPending(PENDING_INITIAL);
                pendingLastType = -1;
            } finally {
                journalLock.unlock();
            }
            // Every record in the batch was queued after its data write returned, so this force covers it.
            data.force(false);
            if (batch.hasRemaining()) {
                mapEnd = OverlayJournal.writeFully(map, batch, mapEnd);
                map.force(false);
            }
        } finally {
            flushLock.unlock();
        }
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        long first = (offset + BLOCK_SIZE - 1) >>> BLOCK_SHIFT;
        long end = offset + length == size ? (size + BLOCK_SIZE - 1) >>> BLOCK_SHIFT : (offset + length) >>> BLOCK_SHIFT;
        if (end > first) {
            mark(first, end - first, false);
        }
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        long pos = offset;
        while (pos < offset + length) {
            ByteBuffer zeros = Zeros.source(offset + length - pos);
            int n = zeros.remaining();
            write(pos, zeros);
            pos += n;
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        List<Extent> out = new ArrayList<>();
        if (length == 0) {
            return out;
        }
        long end = offset + length;
        long last = (end - 1) >>> BLOCK_SHIFT;
        long pos = offset;
        while (pos < end) {
            long block = pos >>> BLOCK_SHIFT;
            boolean written = bitmap.get(block);
            long runEnd = Math.min(end, bitmap.runEnd(block, last, written) << BLOCK_SHIFT);
            if (written) {
                add(out, new Extent(pos, runEnd - pos, Extent.Type.DATA));
            } else {
                for (Extent e : next.extents(pos, runEnd - pos)) {
                    add(out, e);
                }
            }
            pos = runEnd;
        }
        return out;
    }

    private static void add(List<Extent> out, Extent e) {
        if (!out.isEmpty()) {
            Extent last = out.get(out.size() - 1);
            if (last.type() == e.type() && last.end() == e.offset()) {
                out.set(out.size() - 1, new Extent(last.offset(), last.length() + e.length(), e.type()));
                return;
            }
        }
        out.add(e);
    }

    @Override
    public void close() throws IOException {
        try {
            flush();
        } finally {
            try {
                data.close();
                map.close();
            } finally {
                super.close();
            }
        }
    }
}
