package dev.dcd.backend.lun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.zip.CRC32C;

import static dev.dcd.backend.lun.LunFormat.*;

/** One header copy: which generation is current, where its table is and how to check it. */
record LunHeader(long generation, long lunSize, long tableOffset, int tableLength, int tableCrc, byte[] lunId,
                 long formattedAtMillis) {

    String lunIdHex() {
        return HexFormat.of().formatHex(lunId);
    }

    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(H_MAGIC, HEADER_MAGIC);
        b.putInt(H_VERSION, FORMAT_VERSION);
        b.putInt(H_BLOCK_SIZE, BLOCK_SIZE);
        b.putLong(H_GENERATION, generation);
        b.putLong(H_LUN_SIZE, lunSize);
        b.putLong(H_TABLE_OFFSET, tableOffset);
        b.putInt(H_TABLE_LENGTH, tableLength);
        b.putInt(H_TABLE_CRC, tableCrc);
        b.putLong(H_DATA_START, DATA_START);
        b.putLong(H_ALLOCATION_UNIT, ALLOCATION_UNIT);
        b.put(H_LUN_ID, lunId);
        b.putLong(H_FORMATTED_AT, formattedAtMillis);
        b.putInt(H_CRC, crc(b.array(), 0, H_CRC));
        return b.array();
    }

    static boolean hasMagic(ByteBuffer raw) {
        if (raw.remaining() < HEADER_MAGIC.length) {
            return false;
        }
        byte[] magic = new byte[HEADER_MAGIC.length];
        raw.duplicate().get(raw.position(), magic);
        return Arrays.equals(magic, HEADER_MAGIC);
    }

    /** The header in {@code raw}, or empty when it is not a valid dcd header (wrong magic, torn, unknown version). */
    static Optional<LunHeader> decode(ByteBuffer raw) {
        ByteBuffer b = raw.slice().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < H_USED || !hasMagic(b)) {
            return Optional.empty();
        }
        byte[] covered = new byte[H_CRC];
        b.get(0, covered);
        if (crc(covered, 0, H_CRC) != b.getInt(H_CRC)) {
            return Optional.empty();
        }
        if (b.getInt(H_VERSION) != FORMAT_VERSION || b.getInt(H_BLOCK_SIZE) != BLOCK_SIZE
                || b.getLong(H_DATA_START) != DATA_START || b.getLong(H_ALLOCATION_UNIT) != ALLOCATION_UNIT) {
            return Optional.empty();
        }
        long generation = b.getLong(H_GENERATION);
        long tableOffset = b.getLong(H_TABLE_OFFSET);
        int tableLength = b.getInt(H_TABLE_LENGTH);
        if (generation < 1 || tableOffset != LunFormat.tableOffset(generation) || tableLength < T_ENTRIES
                || tableLength > TABLE_SLOT_SIZE) {
            return Optional.empty();
        }
        byte[] id = new byte[16];
        b.get(H_LUN_ID, id);
        return Optional.of(new LunHeader(generation, b.getLong(H_LUN_SIZE), tableOffset, tableLength,
                b.getInt(H_TABLE_CRC), id, b.getLong(H_FORMATTED_AT)));
    }

    /** The format version a header with dcd's magic claims (for "written by a newer dcd" messages). */
    static int claimedVersion(ByteBuffer raw) {
        return raw.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt(raw.position() + H_VERSION);
    }

    static int crc(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }
}
