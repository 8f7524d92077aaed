package dev.dcd.backend.lun;

import java.nio.charset.StandardCharsets;

/**
 * Constants of dcd's layout inside a LUN; docs/san-backend.md describes it byte by byte and LunFormatGoldenTest
 * pins it. All integers are little-endian, as in the app vdisk format.
 *
 * <pre>
 * [0, 4 KiB)          header copy A   (written for even generations)
 * [4 KiB, 8 KiB)      header copy B   (written for odd generations)
 * [8 KiB, 1 MiB)      reserved, zero
 * [1 MiB, 2 MiB)      extent table slot 0 (even generations)
 * [2 MiB, 3 MiB)      extent table slot 1 (odd generations)
 * [3 MiB, end)        data: app vdisks, each at a multiple of the 64 KiB allocation unit
 * </pre>
 *
 * Generation g's header goes to copy g % 2 and names table slot g % 2, so a commit never touches the pair the
 * current generation lives in: a crash at any point leaves that pair whole.
 */
public final class LunFormat {
    private LunFormat() {
    }

    public static final int FORMAT_VERSION = 1;
    public static final int BLOCK_SIZE = 4096;
    public static final int HEADER_SIZE = BLOCK_SIZE;
    public static final long HEADER_A_OFFSET = 0;
    public static final long HEADER_B_OFFSET = BLOCK_SIZE;
    public static final long TABLE_SLOT_SIZE = 1024 * 1024;
    public static final long TABLE_SLOT_0_OFFSET = 1024 * 1024;
    public static final long TABLE_SLOT_1_OFFSET = TABLE_SLOT_0_OFFSET + TABLE_SLOT_SIZE;
    public static final long DATA_START = TABLE_SLOT_1_OFFSET + TABLE_SLOT_SIZE;
    /** Extents start and end on this boundary: a whole number of the vdisk format's 64 KiB checksum chunks. */
    public static final long ALLOCATION_UNIT = 64 * 1024;
    /** The smallest LUN dcd formats: the metadata and room for one small vdisk. */
    public static final long MIN_LUN_SIZE = DATA_START + 1024 * 1024;

    public static final byte[] HEADER_MAGIC = "DCDLUNHD".getBytes(StandardCharsets.US_ASCII);
    public static final byte[] TABLE_MAGIC = "DCDLUNTB".getBytes(StandardCharsets.US_ASCII);

    // Header fields (offsets within a header copy).
    public static final int H_MAGIC = 0;            // 8 bytes "DCDLUNHD"
    public static final int H_VERSION = 8;          // u32, FORMAT_VERSION
    public static final int H_BLOCK_SIZE = 12;      // u32, 4096
    public static final int H_GENERATION = 16;      // u64, >= 1, +1 per commit
    public static final int H_LUN_SIZE = 24;        // u64, bytes the LUN had when formatted
    public static final int H_TABLE_OFFSET = 32;    // u64, the slot holding this generation's table
    public static final int H_TABLE_LENGTH = 40;    // u32, bytes of the table
    public static final int H_TABLE_CRC = 44;       // u32, CRC32C of the table's bytes
    public static final int H_DATA_START = 48;      // u64, DATA_START
    public static final int H_ALLOCATION_UNIT = 56; // u64, ALLOCATION_UNIT
    public static final int H_LUN_ID = 64;          // 16 bytes, random at format: names the LUN in lock files
    public static final int H_FORMATTED_AT = 80;    // u64, epoch milliseconds of the format
    public static final int H_CRC = 88;             // u32, CRC32C of bytes [0, 88)
    public static final int H_USED = 92;

    // Table fields (offsets within a table).
    public static final int T_MAGIC = 0;            // 8 bytes "DCDLUNTB"
    public static final int T_GENERATION = 8;       // u64, equals the header's
    public static final int T_EXTENT_COUNT = 16;    // u32
    public static final int T_FREE_COUNT = 20;      // u32
    public static final int T_RESERVED = 24;        // u64, 0
    public static final int T_ENTRIES = 32;         // extents, then free ranges

    // Extent entry (64 bytes), sorted by offset.
    public static final int EXTENT_SIZE = 64;
    public static final int E_CONTENT_ID = 0;       // 32 bytes
    public static final int E_OFFSET = 32;          // u64, from the start of the LUN
    public static final int E_LENGTH = 40;          // u64, the vdisk's bytes
    public static final int E_ALLOCATED = 48;       // u64, a multiple of ALLOCATION_UNIT >= length
    public static final int E_STATE = 56;           // u32, STATE_LIVE
    public static final int E_RESERVED = 60;        // u32, 0

    /** The only state a committed extent has: its vdisk was written and flushed before the table named it. */
    public static final int STATE_LIVE = 1;

    // Free range entry (16 bytes), sorted by offset: exactly the gaps between extents in [DATA_START, end).
    public static final int FREE_SIZE = 16;
    public static final int F_OFFSET = 0;           // u64
    public static final int F_LENGTH = 8;           // u64

    /** Most entries (extents plus free ranges) one table slot holds. */
    public static final int MAX_ENTRIES = (int) ((TABLE_SLOT_SIZE - T_ENTRIES) / FREE_SIZE);

    public static long headerOffset(long generation) {
        return generation % 2 == 0 ? HEADER_A_OFFSET : HEADER_B_OFFSET;
    }

    public static long tableOffset(long generation) {
        return generation % 2 == 0 ? TABLE_SLOT_0_OFFSET : TABLE_SLOT_1_OFFSET;
    }

    public static long alignUp(long value) {
        return (value + ALLOCATION_UNIT - 1) / ALLOCATION_UNIT * ALLOCATION_UNIT;
    }

    /** Where data may end on a LUN of {@code lunSize} bytes. */
    public static long dataEnd(long lunSize) {
        return lunSize / ALLOCATION_UNIT * ALLOCATION_UNIT;
    }
}
