package dev.dcd.synth.fat32;

import java.nio.ByteBuffer;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

/**
 * Encodes 32-byte directory entries: the short (8.3) entry and the VFAT long-name entries that precede it.
 */
final class DirEntries {
    static final int SIZE = 32;

    // Short entry fields (fatgen103, "FAT 32 Byte Directory Entry Structure").
    static final int D_NAME = 0;
    static final int D_ATTR = 11;
    static final int D_NT_RES = 12;
    static final int D_CRT_TIME_TENTH = 13;
    static final int D_CRT_TIME = 14;
    static final int D_CRT_DATE = 16;
    static final int D_LST_ACC_DATE = 18;
    static final int D_FST_CLUS_HI = 20;
    static final int D_WRT_TIME = 22;
    static final int D_WRT_DATE = 24;
    static final int D_FST_CLUS_LO = 26;
    static final int D_FILE_SIZE = 28;

    // Long-name entry fields (fatgen103, "FAT Long Directory Entries").
    static final int L_ORD = 0;
    static final int L_NAME1 = 1;     // 5 UTF-16 units
    static final int L_ATTR = 11;
    static final int L_TYPE = 12;
    static final int L_CHKSUM = 13;
    static final int L_NAME2 = 14;    // 6 UTF-16 units
    static final int L_FST_CLUS_LO = 26;
    static final int L_NAME3 = 28;    // 2 UTF-16 units
    static final int L_CHARS = 13;
    static final int LAST_LONG_ENTRY = 0x40;
    static final int MAX_LONG_NAME = 255;

    static final int ATTR_READ_ONLY = 0x01;
    static final int ATTR_VOLUME_ID = 0x08;
    static final int ATTR_DIRECTORY = 0x10;
    static final int ATTR_ARCHIVE = 0x20;
    static final int ATTR_LONG_NAME = 0x0F;

    /** FAT dates count years from 1980 in 7 bits. */
    static final long MIN_TIME = LocalDateTime.of(1980, 1, 1, 0, 0).toEpochSecond(ZoneOffset.UTC);
    static final long MAX_TIME = LocalDateTime.of(2107, 12, 31, 23, 59, 58).toEpochSecond(ZoneOffset.UTC);

    private DirEntries() {
    }

    /** How many long-name entries {@code name} takes (0 when it is stored as the short name alone). */
    static int longEntryCount(String name) {
        return (name.length() + L_CHARS - 1) / L_CHARS;
    }

    /**
     * Writes the long-name entries for {@code name} at the buffer's position, last part first as the spec
     * orders them, each carrying the short name's checksum.
     */
    static void putLongName(ByteBuffer dir, String name, int checksum) {
        int count = longEntryCount(name);
        for (int seq = count; seq >= 1; seq--) {
            int at = dir.position();
            dir.put(at + L_ORD, (byte) (seq | (seq == count ? LAST_LONG_ENTRY : 0)));
            dir.put(at + L_ATTR, (byte) ATTR_LONG_NAME);
            dir.put(at + L_TYPE, (byte) 0);
            dir.put(at + L_CHKSUM, (byte) checksum);
            dir.putShort(at + L_FST_CLUS_LO, (short) 0);
            int first = (seq - 1) * L_CHARS;
            for (int i = 0; i < L_CHARS; i++) {
                int index = first + i;
                // The name ends with one NUL unless it fills the entry exactly; the rest is 0xFFFF padding.
                char c = index < name.length() ? name.charAt(index) : index == name.length() ? 0 : (char) 0xFFFF;
                dir.putChar(at + charOffset(i), c);
            }
            dir.position(at + SIZE);
        }
    }

    private static int charOffset(int i) {
        if (i < 5) {
            return L_NAME1 + 2 * i;
        } else if (i < 11) {
            return L_NAME2 + 2 * (i - 5);
        }
        return L_NAME3 + 2 * (i - 11);
    }

    /** Writes a short entry at the buffer's position. */
    static void putShort(ByteBuffer dir, byte[] name11, int attributes, long cluster, long size, long mtimeSeconds,
                         int mtimeNanos) {
        int at = dir.position();
        dir.put(at + D_NAME, name11);
        dir.put(at + D_ATTR, (byte) attributes);
        dir.put(at + D_NT_RES, (byte) 0);
        long t = clamp(mtimeSeconds);
        int date = fatDate(t);
        int time = fatTime(t);
        // The creation time carries the odd second and the hundredths that the 2-second write time loses.
        int tenth = t == mtimeSeconds ? Math.floorMod(t, 2) * 100 + mtimeNanos / 10_000_000 : 0;
        dir.put(at + D_CRT_TIME_TENTH, (byte) tenth);
        dir.putShort(at + D_CRT_TIME, (short) time);
        dir.putShort(at + D_CRT_DATE, (short) date);
        dir.putShort(at + D_LST_ACC_DATE, (short) date);
        dir.putShort(at + D_FST_CLUS_HI, (short) (cluster >>> 16));
        dir.putShort(at + D_WRT_TIME, (short) time);
        dir.putShort(at + D_WRT_DATE, (short) date);
        dir.putShort(at + D_FST_CLUS_LO, (short) cluster);
        dir.putInt(at + D_FILE_SIZE, (int) size);
        dir.position(at + SIZE);
    }

    static long clamp(long epochSeconds) {
        return Math.max(MIN_TIME, Math.min(MAX_TIME, epochSeconds));
    }

    /** Date as FAT stores it, in UTC (FAT has no zone; we pick one so builds do not depend on the host). */
    static int fatDate(long epochSeconds) {
        LocalDateTime t = LocalDateTime.ofEpochSecond(clamp(epochSeconds), 0, ZoneOffset.UTC);
        return ((t.getYear() - 1980) << 9) | (t.getMonthValue() << 5) | t.getDayOfMonth();
    }

    /** Time of day in 2-second units, as FAT stores it. */
    static int fatTime(long epochSeconds) {
        LocalDateTime t = LocalDateTime.ofEpochSecond(clamp(epochSeconds), 0, ZoneOffset.UTC);
        return (t.getHour() << 11) | (t.getMinute() << 5) | (t.getSecond() / 2);
    }
}
