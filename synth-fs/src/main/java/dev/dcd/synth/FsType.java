package dev.dcd.synth;

import java.util.Locale;

/** Filesystems a dynamic content disk can carry. */
public enum FsType {
    EXT4, FAT32;

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static FsType parse(String text) {
        for (FsType type : values()) {
            if (type.id().equalsIgnoreCase(text)) {
                return type;
            }
        }
        throw new IllegalArgumentException("unknown filesystem '" + text + "' (expected ext4 or fat32)");
    }
}
