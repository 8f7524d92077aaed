package dev.dcd.synth;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.CRC32;

/**
 * A GPT with one partition (UEFI spec, chapter 5): protective MBR, primary header and entry array at the
 * start, their backups at the end of the disk.
 */
public final class Gpt {
    public static final int SECTOR = 512;
    public static final UUID LINUX_FILESYSTEM = UUID.fromString("0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    public static final UUID MICROSOFT_BASIC_DATA = UUID.fromString("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");

    static final int ENTRY_COUNT = 128;
    static final int ENTRY_SIZE = 128;
    static final int ENTRY_ARRAY_SECTORS = ENTRY_COUNT * ENTRY_SIZE / SECTOR; // 32
    static final int HEADER_SIZE = 92;

    // Protective MBR.
    static final int MBR_PARTITION_ENTRY = 446;
    static final int MBR_SIGNATURE = 510;

    // GPT header fields.
    static final int G_SIGNATURE = 0;
    static final int G_REVISION = 8;
    static final int G_HEADER_SIZE = 12;
    static final int G_HEADER_CRC = 16;
    static final int G_MY_LBA = 24;
    static final int G_ALTERNATE_LBA = 32;
    static final int G_FIRST_USABLE = 40;
    static final int G_LAST_USABLE = 48;
    static final int G_DISK_GUID = 56;
    static final int G_ENTRIES_LBA = 72;
    static final int G_ENTRY_COUNT = 80;
    static final int G_ENTRY_SIZE = 84;
    static final int G_ENTRIES_CRC = 88;

    // Partition entry fields.
    static final int P_TYPE = 0;
    static final int P_UNIQUE = 16;
    static final int P_FIRST_LBA = 32;
    static final int P_LAST_LBA = 40;
    static final int P_ATTRIBUTES = 48;
    static final int P_NAME = 56;

    private Gpt() {
    }

    /** Where the partition lies: from {@link DiskSpec#PARTITION_START}, in whole MiB, clear of the backup GPT. */
    public record Layout(long diskSize, long partitionOffset, long partitionLength) {
        public long partitionEnd() {
            return partitionOffset + partitionLength;
        }
    }

    public static Layout layout(long diskSize) {
        long totalSectors = diskSize / SECTOR;
        long lastUsable = totalSectors - 1 - 1 - ENTRY_ARRAY_SECTORS;
        long mib = (1L << 20);
        long end = ((lastUsable + 1) * SECTOR) / mib * mib;
        return new Layout(diskSize, DiskSpec.PARTITION_START, end - DiskSpec.PARTITION_START);
    }

    /** Writes the protective MBR and both GPT copies. */
    public static void write(ThinImage image, Layout layout, UUID typeGuid, UUID diskGuid, UUID partitionGuid, String name)
            throws IOException {
        long totalSectors = layout.diskSize() / SECTOR;
        long lastLba = totalSectors - 1;

        ByteBuffer mbr = le(SECTOR);
        int p = MBR_PARTITION_ENTRY;
        mbr.put(p, (byte) 0x00);                    // not bootable
        mbr.put(p + 1, (byte) 0x00).put(p + 2, (byte) 0x02).put(p + 3, (byte) 0x00); // CHS of LBA 1
        mbr.put(p + 4, (byte) 0xEE);                // GPT protective
        mbr.put(p + 5, (byte) 0xFF).put(p + 6, (byte) 0xFF).put(p + 7, (byte) 0xFF);
        mbr.putInt(p + 8, 1);
        mbr.putInt(p + 12, (int) Math.min(totalSectors - 1, 0xFFFFFFFFL));
        mbr.put(MBR_SIGNATURE, (byte) 0x55).put(MBR_SIGNATURE + 1, (byte) 0xAA);
        image.write(0, mbr.array());

        ByteBuffer entries = le(ENTRY_COUNT * ENTRY_SIZE);
        putGuid(entries, P_TYPE, typeGuid);
        putGuid(entries, P_UNIQUE, partitionGuid);
        entries.putLong(P_FIRST_LBA, layout.partitionOffset() / SECTOR);
        entries.putLong(P_LAST_LBA, layout.partitionEnd() / SECTOR - 1);
        entries.putLong(P_ATTRIBUTES, 0);
        byte[] utf16 = name.getBytes(StandardCharsets.UTF_16LE);
        entries.put(P_NAME, utf16, 0, Math.min(utf16.length, 72));
        int entriesCrc = crc32(entries.array(), 0, entries.capacity());

        long firstUsable = 2 + ENTRY_ARRAY_SECTORS;
        long lastUsable = lastLba - 1 - ENTRY_ARRAY_SECTORS;
        byte[] primary = header(1, lastLba, firstUsable, lastUsable, diskGuid, 2, entriesCrc);
        byte[] backup = header(lastLba, 1, firstUsable, lastUsable, diskGuid, lastLba - ENTRY_ARRAY_SECTORS, entriesCrc);
        image.write(SECTOR, primary);
        writeSparse(image, 2L * SECTOR, entries.array());
        writeSparse(image, (lastLba - ENTRY_ARRAY_SECTORS) * SECTOR, entries.array());
        image.write(lastLba * SECTOR, backup);
    }

    /**
     * Writes the sectors that hold something and declares the all-zero ones (they read as zeros from the thin
     * image): the 16 KiB entry array has one entry in use, so each copy costs one host block instead of four.
     */
    private static void writeSparse(ThinImage image, long offset, byte[] bytes) throws IOException {
        int runStart = -1;
        for (int s = 0; s <= bytes.length; s += SECTOR) {
            boolean zero = s == bytes.length || isZero(bytes, s, SECTOR);
            if (!zero && runStart < 0) {
                runStart = s;
            } else if (zero && runStart >= 0) {
                image.write(offset + runStart, ByteBuffer.wrap(bytes, runStart, s - runStart));
                runStart = -1;
            }
        }
        image.declare(offset, bytes.length);
    }

    private static boolean isZero(byte[] bytes, int from, int length) {
        for (int i = from; i < from + length; i++) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] header(long myLba, long alternateLba, long firstUsable, long lastUsable, UUID diskGuid,
                                 long entriesLba, int entriesCrc) {
        ByteBuffer h = le(SECTOR);
        h.put(G_SIGNATURE, "EFI PART".getBytes(StandardCharsets.US_ASCII));
        h.putInt(G_REVISION, 0x00010000);
        h.putInt(G_HEADER_SIZE, HEADER_SIZE);
        h.putLong(G_MY_LBA, myLba);
        h.putLong(G_ALTERNATE_LBA, alternateLba);
        h.putLong(G_FIRST_USABLE, firstUsable);
        h.putLong(G_LAST_USABLE, lastUsable);
        putGuid(h, G_DISK_GUID, diskGuid);
        h.putLong(G_ENTRIES_LBA, entriesLba);
        h.putInt(G_ENTRY_COUNT, ENTRY_COUNT);
        h.putInt(G_ENTRY_SIZE, ENTRY_SIZE);
        h.putInt(G_ENTRIES_CRC, entriesCrc);
        h.putInt(G_HEADER_CRC, crc32(h.array(), 0, HEADER_SIZE));
        return h.array();
    }

    /** GUIDs are stored mixed-endian: the first three fields little-endian, the last eight bytes as written. */
    static void putGuid(ByteBuffer b, int at, UUID guid) {
        long msb = guid.getMostSignificantBits();
        long lsb = guid.getLeastSignificantBits();
        b.putInt(at, (int) (msb >>> 32));
        b.putShort(at + 4, (short) (msb >>> 16));
        b.putShort(at + 6, (short) msb);
        for (int i = 0; i < 8; i++) {
            b.put(at + 8 + i, (byte) (lsb >>> (56 - 8 * i)));
        }
    }

    private static int crc32(byte[] bytes, int offset, int length) {
        CRC32 crc = new CRC32();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
