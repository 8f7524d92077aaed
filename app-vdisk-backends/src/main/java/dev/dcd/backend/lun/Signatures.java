package dev.dcd.backend.lun;

import dev.dcd.block.BlockDevice;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * What a LUN that is not dcd's carries, so that a refusal can name it. The first and the last MiB must be all
 * zeros for a LUN to count as blank; the well-known signatures in them (partition tables, filesystems, volume
 * managers) give the name, anything else is "data".
 */
final class Signatures {
    private static final int WINDOW = 1024 * 1024;

    private Signatures() {
    }

    static Optional<String> identify(BlockDevice lun) throws IOException {
        int head = (int) Math.min(WINDOW, lun.size());
        ByteBuffer first = ByteBuffer.allocate(head);
        lun.read(0, first);
        byte[] b = first.array();
        long tailStart = Math.max(head, lun.size() - WINDOW);
        ByteBuffer last = ByteBuffer.allocate((int) (lun.size() - tailStart));
        lun.read(tailStart, last);
        if (allZero(b) && allZero(last.array())) {
            return Optional.empty();
        }
        return Optional.of(name(b));
    }

    private static String name(byte[] b) {
        if (at(b, 512, "EFI PART")) {
            return "a GPT partition table";
        }
        if (at(b, 0x10040, "_BHRfS_M")) {
            return "a btrfs filesystem";
        }
        if (b.length > 1081 && (b[1080] & 0xff) == 0x53 && (b[1081] & 0xff) == 0xef) {
            return "an ext2/3/4 filesystem";
        }
        if (at(b, 0, "XFSB")) {
            return "an XFS filesystem";
        }
        if (at(b, 0, "LUKS")) {
            return "a LUKS encrypted volume";
        }
        if (at(b, 512, "LABELONE")) {
            return "an LVM physical volume";
        }
        if (at(b, 4086, "SWAPSPACE2")) {
            return "a swap area";
        }
        if (at(b, 32769, "CD001")) {
            return "an ISO 9660 filesystem";
        }
        if (at(b, 82, "FAT32") || at(b, 54, "FAT1")) {
            return "a FAT filesystem";
        }
        if (b.length > 511 && (b[510] & 0xff) == 0x55 && (b[511] & 0xff) == 0xaa) {
            return "an MBR partition table or boot sector";
        }
        return "data (it is not all zeros)";
    }

    private static boolean at(byte[] b, int offset, String magic) {
        byte[] m = magic.getBytes(StandardCharsets.US_ASCII);
        if (b.length < offset + m.length) {
            return false;
        }
        for (int i = 0; i < m.length; i++) {
            if (b[offset + i] != m[i]) {
                return false;
            }
        }
        return true;
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}
