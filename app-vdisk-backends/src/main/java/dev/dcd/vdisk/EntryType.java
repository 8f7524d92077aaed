package dev.dcd.vdisk;

/** Kinds of manifest entries; the codes are part of the on-disk format. */
public enum EntryType {
    FILE(1), DIRECTORY(2), SYMLINK(3), HARDLINK(4);

    private final int code;

    EntryType(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static EntryType ofCode(int code) {
        for (EntryType type : values()) {
            if (type.code == code) {
                return type;
            }
        }
        throw new IllegalArgumentException("unknown entry type code " + code);
    }
}
