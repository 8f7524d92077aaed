package dev.dcd.vdisk;

import java.nio.charset.StandardCharsets;

/**
 * Constants of the app vdisk format; docs/app-vdisk-format.md describes it byte by byte.
 *
 * <p>Layout: a {@value #HEADER_SIZE}-byte header, then the data region (every file's bytes contiguous and
 * starting on a {@value #BLOCK_SIZE}-byte boundary, so one file is one extent), then the manifest.
 * All integers are little-endian.
 */
public final class VdiskFormat {
    private VdiskFormat() {
    }

    public static final int BLOCK_SIZE = 4096;
    public static final int HEADER_SIZE = 4096;
    /** Data is checksummed in chunks of this size so a reader can verify any block it fetched remotely. */
    public static final int CHECKSUM_CHUNK = 64 * 1024;
    public static final int FORMAT_VERSION = 1;

    public static final byte[] HEADER_MAGIC = "DCDVDISK".getBytes(StandardCharsets.US_ASCII);
    public static final byte[] MANIFEST_MAGIC = "DCDMANIF".getBytes(StandardCharsets.US_ASCII);

    // Header field offsets.
    public static final int H_MAGIC = 0;              // 8 bytes
    public static final int H_VERSION = 8;            // u32
    public static final int H_BLOCK_SIZE = 12;        // u32
    public static final int H_CHECKSUM_CHUNK = 16;    // u32
    public static final int H_FLAGS = 20;             // u32, 0
    public static final int H_DATA_OFFSET = 24;       // u64
    public static final int H_DATA_LENGTH = 32;       // u64
    public static final int H_MANIFEST_OFFSET = 40;   // u64
    public static final int H_MANIFEST_LENGTH = 48;   // u64
    public static final int H_CONTENT_ID = 56;        // 32 bytes: sha256 of the manifest
    public static final int H_CRC = 88;               // u32: CRC32C of bytes [0, 88)
    public static final int H_USED = 92;

    /** Longest path the manifest accepts, in UTF-8 bytes (Linux PATH_MAX less the terminator). */
    public static final int MAX_PATH_BYTES = 4095;
    /** Longest single name, in UTF-8 bytes, as ext4 allows. */
    public static final int MAX_NAME_BYTES = 255;

    public static long alignUp(long value) {
        return (value + BLOCK_SIZE - 1) & -BLOCK_SIZE;
    }
}
