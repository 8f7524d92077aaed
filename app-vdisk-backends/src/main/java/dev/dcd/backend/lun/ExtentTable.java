package dev.dcd.backend.lun;

import dev.dcd.vdisk.ContentId;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

import static dev.dcd.backend.lun.LunFormat.*;

/**
 * Which vdisk lives where inside a LUN: extents sorted by offset, and the free ranges between them. Immutable:
 * every change makes a new table, which is committed as a whole ({@link LunVolume}). The free list is stored
 * as well as implied, and a decoded table must have it equal to the gaps between its extents, so a table that
 * decodes can never hand out an allocated range twice.
 */
final class ExtentTable {
    record Extent(ContentId id, long offset, long length, long allocated) {
        long end() {
            return offset + allocated;
        }
    }

    record Range(long offset, long length) {
        long end() {
            return offset + length;
        }
    }

    /** A table that cannot be trusted; the message says why, without the LUN's name (the caller adds it). */
    static final class CorruptTable extends Exception {
        CorruptTable(String message) {
            super(message);
        }
    }

    private final long generation;
    private final long dataEnd;
    private final List<Extent> extents;

    private ExtentTable(long generation, long dataEnd, List<Extent> extents) {
        this.generation = generation;
        this.dataEnd = dataEnd;
        this.extents = List.copyOf(extents);
    }

    /** The table of a freshly formatted LUN: no extents, everything free. */
    static ExtentTable empty(long lunSize) {
        return new ExtentTable(0, LunFormat.dataEnd(lunSize), List.of());
    }

    long generation() {
        return generation;
    }

    List<Extent> extents() {
        return extents;
    }

    Optional<Extent> find(ContentId id) {
        return extents.stream().filter(e -> e.id().equals(id)).findFirst();
    }

    long capacity() {
        return dataEnd - DATA_START;
    }

    long used() {
        return extents.stream().mapToLong(Extent::allocated).sum();
    }

    long free() {
        return capacity() - used();
    }

    /** The gaps between extents, in order. */
    List<Range> freeRanges() {
        List<Range> free = new ArrayList<>();
        long at = DATA_START;
        for (Extent e : extents) {
            if (e.offset() > at) {
                free.add(new Range(at, e.offset() - at));
            }
            at = e.end();
        }
        if (dataEnd > at) {
            free.add(new Range(at, dataEnd - at));
        }
        return free;
    }

    /** First fit: the lowest free range that holds {@code length} bytes, rounded up to the allocation unit. */
    Optional<Extent> allocate(ContentId id, long length) {
        long need = Math.max(ALLOCATION_UNIT, alignUp(length));
        for (Range r : freeRanges()) {
            if (r.length() >= need) {
                return Optional.of(new Extent(id, r.offset(), length, need));
            }
        }
        return Optional.empty();
    }

    /** This table with {@code extent} added; the extent must lie in free space (checked). */
    ExtentTable with(Extent extent) {
        boolean fits = freeRanges().stream().anyMatch(r -> r.offset() <= extent.offset() && extent.end() <= r.end());
        if (!fits || find(extent.id()).isPresent()) {
            throw new IllegalStateException("extent " + extent + " overlaps allocated space or exists already");
        }
        List<Extent> next = new ArrayList<>(extents);
        next.add(extent);
        next.sort(Comparator.comparingLong(Extent::offset));
        return new ExtentTable(generation, dataEnd, next);
    }

    ExtentTable without(ContentId id) {
        List<Extent> next = new ArrayList<>(extents);
        next.removeIf(e -> e.id().equals(id));
        return new ExtentTable(generation, dataEnd, next);
    }

    /** Whether the encoded table fits one slot (about 13,000 vdisks on a LUN with few holes). */
    boolean fits() {
        return T_ENTRIES + (long) extents.size() * EXTENT_SIZE + (long) freeRanges().size() * FREE_SIZE <= TABLE_SLOT_SIZE;
    }

    /** The table's bytes as generation {@code generation} stores them. */
    byte[] encode(long generation) {
        List<Range> free = freeRanges();
        int length = T_ENTRIES + extents.size() * EXTENT_SIZE + free.size() * FREE_SIZE;
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(T_MAGIC, TABLE_MAGIC);
        b.putLong(T_GENERATION, generation);
        b.putInt(T_EXTENT_COUNT, extents.size());
        b.putInt(T_FREE_COUNT, free.size());
        b.putLong(T_RESERVED, 0);
        int at = T_ENTRIES;
        for (Extent e : extents) {
            b.put(at + E_CONTENT_ID, e.id().bytes());
            b.putLong(at + E_OFFSET, e.offset());
            b.putLong(at + E_LENGTH, e.length());
            b.putLong(at + E_ALLOCATED, e.allocated());
            b.putInt(at + E_STATE, STATE_LIVE);
            b.putInt(at + E_RESERVED, 0);
            at += EXTENT_SIZE;
        }
        for (Range r : free) {
            b.putLong(at + F_OFFSET, r.offset());
            b.putLong(at + F_LENGTH, r.length());
            at += FREE_SIZE;
        }
        return b.array();
    }

    ExtentTable atGeneration(long g) {
        return new ExtentTable(g, dataEnd, extents);
    }

    /** Decodes and cross-checks the table {@code header} names; {@code raw} holds exactly its bytes. */
    static ExtentTable decode(byte[] raw, LunHeader header) throws CorruptTable {
        if (raw.length != header.tableLength() || LunHeader.crc(raw, 0, raw.length) != header.tableCrc()) {
            throw new CorruptTable("extent table of generation " + header.generation() + " fails its CRC32C");
        }
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(T_MAGIC, magic);
        if (!Arrays.equals(magic, TABLE_MAGIC) || b.getLong(T_GENERATION) != header.generation()) {
            throw new CorruptTable("extent table slot does not hold generation " + header.generation());
        }
        long extentCount = Integer.toUnsignedLong(b.getInt(T_EXTENT_COUNT));
        long freeCount = Integer.toUnsignedLong(b.getInt(T_FREE_COUNT));
        if (T_ENTRIES + extentCount * EXTENT_SIZE + freeCount * FREE_SIZE != raw.length) {
            throw new CorruptTable("extent table counts do not match its length");
        }
        long dataEnd = LunFormat.dataEnd(header.lunSize());
        List<Extent> extents = new ArrayList<>();
        int at = T_ENTRIES;
        long previousEnd = DATA_START;
        for (long i = 0; i < extentCount; i++) {
            byte[] id = new byte[32];
            b.get(at + E_CONTENT_ID, id);
            Extent e = new Extent(ContentId.of(id), b.getLong(at + E_OFFSET), b.getLong(at + E_LENGTH),
                    b.getLong(at + E_ALLOCATED));
            if (b.getInt(at + E_STATE) != STATE_LIVE || e.offset() < previousEnd || e.offset() % ALLOCATION_UNIT != 0
                    || e.allocated() % ALLOCATION_UNIT != 0 || e.length() <= 0 || e.allocated() < e.length()
                    || e.end() > dataEnd || e.end() < e.offset()) {
                throw new CorruptTable("extent table entry " + i + " is out of order, overlaps or leaves the LUN");
            }
            extents.add(e);
            previousEnd = e.end();
            at += EXTENT_SIZE;
        }
        ExtentTable table = new ExtentTable(header.generation(), dataEnd, extents);
        List<Range> stored = new ArrayList<>();
        for (long i = 0; i < freeCount; i++) {
            stored.add(new Range(b.getLong(at + F_OFFSET), b.getLong(at + F_LENGTH)));
            at += FREE_SIZE;
        }
        if (!stored.equals(table.freeRanges())) {
            throw new CorruptTable("free list disagrees with the extents");
        }
        if (extents.stream().map(Extent::id).distinct().count() != extents.size()) {
            throw new CorruptTable("extent table names one vdisk twice");
        }
        return table;
    }
}
