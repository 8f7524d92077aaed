package dev.dcd.vdisk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.zip.CRC32C;

import static dev.dcd.vdisk.VdiskFormat.*;

/** The fixed header at offset 0 of every vdisk. */
public record VdiskHeader(long dataOffset, long dataLength, long manifestOffset, long manifestLength, ContentId contentId) {

    public long totalLength() {
        return manifestOffset + manifestLength;
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(H_MAGIC, HEADER_MAGIC);
        b.putInt(H_VERSION, FORMAT_VERSION);
        b.putInt(H_BLOCK_SIZE, BLOCK_SIZE);
        b.putInt(H_CHECKSUM_CHUNK, CHECKSUM_CHUNK);
        b.putInt(H_FLAGS, 0);
        b.putLong(H_DATA_OFFSET, dataOffset);
        b.putLong(H_DATA_LENGTH, dataLength);
        b.putLong(H_MANIFEST_OFFSET, manifestOffset);
        b.putLong(H_MANIFEST_LENGTH, manifestLength);
        b.put(H_CONTENT_ID, contentId.bytes());
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, H_CRC);
        b.putInt(H_CRC, (int) crc.getValue());
        return b.array();
    }

    public static VdiskHeader decode(ByteBuffer raw, String what) throws IOException {
        ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < H_USED) {
            throw new IOException(what + " is too short to be an app vdisk");
        }
        byte[] magic = new byte[8];
        b.get(H_MAGIC, magic);
        if (!Arrays.equals(magic, HEADER_MAGIC)) {
            throw new IOException(what + " is not an app vdisk (bad magic)");
        }
        CRC32C crc = new CRC32C();
        byte[] covered = new byte[H_CRC];
        b.get(0, covered);
        crc.update(covered);
        if ((int) crc.getValue() != b.getInt(H_CRC)) {
            throw new IOException(what + " has a corrupt header (checksum mismatch)");
        }
        if (b.getInt(H_VERSION) != FORMAT_VERSION || b.getInt(H_BLOCK_SIZE) != BLOCK_SIZE
                || b.getInt(H_CHECKSUM_CHUNK) != CHECKSUM_CHUNK) {
            throw new IOException(what + " uses app vdisk format version " + b.getInt(H_VERSION)
                    + ", which this dcd does not read");
        }
        byte[] id = new byte[ContentId.BYTES];
        b.get(H_CONTENT_ID, id);
        return new VdiskHeader(b.getLong(H_DATA_OFFSET), b.getLong(H_DATA_LENGTH), b.getLong(H_MANIFEST_OFFSET),
                b.getLong(H_MANIFEST_LENGTH), ContentId.of(id));
    }
}
