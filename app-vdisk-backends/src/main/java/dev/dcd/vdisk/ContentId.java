package dev.dcd.vdisk;

import java.util.HexFormat;
import java.util.Optional;

/**
 * Names a vdisk by the sha256 of its manifest. The manifest holds every file's sha256 and the block
 * checksums, so equal ids mean equal bytes, and anything keyed by an id can never go stale.
 */
public record ContentId(String hex) implements Comparable<ContentId> {
    public static final int BYTES = 32;

    public ContentId {
        if (hex == null || hex.length() != BYTES * 2 || !hex.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            throw new IllegalArgumentException("not a content id: " + hex);
        }
    }

    public static ContentId of(byte[] sha256) {
        if (sha256.length != BYTES) {
            throw new IllegalArgumentException("content id needs 32 bytes, got " + sha256.length);
        }
        return new ContentId(HexFormat.of().formatHex(sha256));
    }

    public static Optional<ContentId> tryParse(String text) {
        try {
            return Optional.of(new ContentId(text));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    public byte[] bytes() {
        return HexFormat.of().parseHex(hex);
    }

    /** The first 12 hex digits, enough to tell vdisks apart in listings. */
    public String shortHex() {
        return hex.substring(0, 12);
    }

    @Override
    public int compareTo(ContentId other) {
        return hex.compareTo(other.hex);
    }

    @Override
    public String toString() {
        return hex;
    }
}
