package dev.dcd.backend.lun;

import dev.dcd.block.BlockDevice;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.util.Optional;
import java.util.function.Supplier;

import static dev.dcd.backend.lun.LunFormat.*;

/**
 * dcd's layout on one LUN: finds the current generation (the newest header copy that checks out, and the table
 * it names), formats a blank LUN, and commits new tables crash-safely. Commit order: the new table into the slot
 * the current generation does not use, flush, the new header into the copy it does not use, flush. A crash before
 * the second flush leaves the current pair whole and the new header either unwritten or failing its CRC, so the
 * LUN opens to the old table; after it, to the new one. Never a mix: a header names its table's length and CRC.
 *
 * <p>Not thread-safe: {@link LunBackend} serialises commits (and locks the LUN against other dcd processes).
 */
final class LunVolume {
    /** What opening may do to a LUN that carries no dcd layout. */
    enum Mode {
        /** Format it only when it is all zeros (the first use of a fresh LUN). */
        FORMAT_IF_BLANK,
        /** Format it whatever it carries (dcd backend add --format): the user said so. */
        FORMAT_ANYTHING
    }

    /** A LUN dcd will not use as it is; the message is one line and says what to do. */
    static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }

    private final BlockDevice lun;
    // Volatile: readers look up extents without the lock that serialises reloads and commits.
    private volatile LunHeader header;
    private volatile ExtentTable table;
    private final boolean formattedNow;

    private LunVolume(BlockDevice lun, LunHeader header, ExtentTable table, boolean formattedNow) {
        this.lun = lun;
        this.header = header;
        this.table = table;
        this.formattedNow = formattedNow;
    }

    static LunVolume open(BlockDevice lun, Mode mode, Clock clock, Supplier<byte[]> newLunId) throws IOException {
        Optional<Current> current;
        try {
            current = readCurrent(lun);
        } catch (Refused e) {
            if (mode == Mode.FORMAT_ANYTHING) {
                return format(lun, clock, newLunId, true);
            }
            throw e;
        }
        if (current.isPresent()) {
            return new LunVolume(lun, current.get().header(), current.get().table(), false);
        }
        if (lun.size() < MIN_LUN_SIZE) {
            throw new Refused("the LUN has " + lun.size() + " bytes; dcd needs at least " + MIN_LUN_SIZE / (1024 * 1024)
                    + " MiB (" + DATA_START / (1024 * 1024) + " MiB of layout and room for a vdisk)");
        }
        Optional<String> foreign = Signatures.identify(lun);
        if (foreign.isPresent() && mode != Mode.FORMAT_ANYTHING) {
            throw new Refused("the LUN carries " + foreign.get() + ", not a dcd layout; dcd formats only all-zero LUNs "
                    + "unless told to erase one (backend add NAME URI --format)");
        }
        return format(lun, clock, newLunId, foreign.isPresent());
    }

    private record Current(LunHeader header, ExtentTable table) {
    }

    /** The committed generation, empty on a LUN without any dcd header; {@link Refused} on a damaged one. */
    private static Optional<Current> readCurrent(BlockDevice lun) throws IOException {
        if (lun.size() < 2L * HEADER_SIZE) {
            return Optional.empty();
        }
        ByteBuffer heads = ByteBuffer.allocate(2 * HEADER_SIZE);
        lun.read(HEADER_A_OFFSET, heads);
        ByteBuffer a = heads.duplicate().position(0).limit(HEADER_SIZE);
        ByteBuffer b = heads.duplicate().position(HEADER_SIZE).limit(2 * HEADER_SIZE);
        Optional<LunHeader> ha = LunHeader.decode(a);
        Optional<LunHeader> hb = LunHeader.decode(b);
        if (ha.isEmpty() && hb.isEmpty()) {
            if (LunHeader.hasMagic(a) || LunHeader.hasMagic(b)) {
                int version = Math.max(LunHeader.claimedVersion(a), LunHeader.claimedVersion(b));
                if (version > FORMAT_VERSION) {
                    throw new Refused("the LUN was formatted by a newer dcd (layout version " + version
                            + "); this dcd reads version " + FORMAT_VERSION);
                }
                throw new Refused("both dcd layout headers on the LUN are damaged (checksum mismatch); nothing was "
                        + "changed (backend add NAME URI --format erases the LUN and its vdisks)");
            }
            return Optional.empty();
        }
        LunHeader newest = ha.isEmpty() ? hb.get() : hb.isEmpty() ? ha.get()
                : ha.get().generation() >= hb.get().generation() ? ha.get() : hb.get();
        if (newest.lunSize() > lun.size()) {
            throw new Refused("the LUN shrank from " + newest.lunSize() + " to " + lun.size()
                    + " bytes since dcd formatted it; vdisks past the end would be lost");
        }
        ByteBuffer raw = ByteBuffer.allocate(newest.tableLength());
        lun.read(newest.tableOffset(), raw);
        try {
            return Optional.of(new Current(newest, ExtentTable.decode(raw.array(), newest)));
        } catch (ExtentTable.CorruptTable e) {
            throw new Refused("the LUN's extent table is corrupt (" + e.getMessage() + "); nothing was changed "
                    + "(backend add NAME URI --format erases the LUN and its vdisks)");
        }
    }

    private static LunVolume format(BlockDevice lun, Clock clock, Supplier<byte[]> newLunId, boolean wipe)
            throws IOException {
        if (lun.size() < MIN_LUN_SIZE) {
            throw new Refused("the LUN has " + lun.size() + " bytes; dcd needs at least " + MIN_LUN_SIZE / (1024 * 1024)
                    + " MiB");
        }
        if (wipe) {
            // Foreign signatures in the layout area would confuse other tools (and this one): zero it all first.
            ByteBuffer zeros = ByteBuffer.allocate((int) TABLE_SLOT_SIZE);
            for (long at = 0; at < DATA_START; at += TABLE_SLOT_SIZE) {
                lun.write(at, zeros.clear());
            }
            lun.flush();
        }
        ExtentTable empty = ExtentTable.empty(lun.size());
        LunHeader zero = new LunHeader(0, lun.size(), tableOffset(0), T_ENTRIES, 0, newLunId.get(),
                clock.millis());
        LunVolume volume = new LunVolume(lun, zero, empty, true);
        volume.commit(empty);
        return volume;
    }

    /** Re-reads the committed generation: another process may have committed since. */
    void reload() throws IOException {
        Current current = readCurrent(lun).orElseThrow(() -> new Refused("the dcd layout vanished from the LUN"));
        if (!java.util.Arrays.equals(current.header().lunId(), header.lunId())) {
            throw new Refused("the LUN was re-formatted by someone else while dcd was using it");
        }
        header = current.header();
        table = current.table();
    }

    /** Makes {@code next} the committed table (see the class comment for the order of writes). */
    void commit(ExtentTable next) throws IOException {
        if (!next.fits()) {
            throw new IOException("the LUN's extent table is full (" + next.extents().size() + " vdisks)");
        }
        long g = header.generation() + 1;
        byte[] encoded = next.encode(g);
        lun.write(tableOffset(g), ByteBuffer.wrap(encoded));
        lun.flush();
        LunHeader h = new LunHeader(g, header.lunSize(), tableOffset(g), encoded.length,
                LunHeader.crc(encoded, 0, encoded.length), header.lunId(), header.formattedAtMillis());
        lun.write(headerOffset(g), ByteBuffer.wrap(h.encode()));
        lun.flush();
        header = h;
        table = next.atGeneration(g);
    }

    LunHeader header() {
        return header;
    }

    ExtentTable table() {
        return table;
    }

    boolean formattedNow() {
        return formattedNow;
    }

    BlockDevice device() {
        return lun;
    }
}
