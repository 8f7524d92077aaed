package dev.dcd.synth.fat32;

import java.util.Locale;
import java.util.Set;

/** What names and paths FAT (as Windows reads it) accepts. */
final class FatNames {
    /** Windows' MAX_PATH, counted in UTF-16 units over the path below the volume root. */
    static final int MAX_PATH = 260;
    static final String FORBIDDEN = "\"*/:<>?\\|";
    private static final Set<String> DEVICES = Set.of("CON", "PRN", "AUX", "NUL",
            "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
            "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9");

    private FatNames() {
    }

    /** Why FAT cannot hold {@code name}, or null when it can. */
    static String problem(String name) {
        if (name.length() > DirEntries.MAX_LONG_NAME) {
            return "name longer than 255 UTF-16 characters";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < 0x20) {
                return "control character U+" + String.format(Locale.ROOT, "%04X", (int) c) + " in name";
            }
            if (FORBIDDEN.indexOf(c) >= 0) {
                return "character '" + c + "' is not allowed in FAT names";
            }
        }
        char last = name.charAt(name.length() - 1);
        if (last == '.' || last == ' ') {
            return "name ends in " + (last == '.' ? "a dot" : "a space") + ", which Windows strips";
        }
        int dot = name.indexOf('.');
        String stem = (dot < 0 ? name : name.substring(0, dot)).stripTrailing().toUpperCase(Locale.ROOT);
        if (DEVICES.contains(stem)) {
            return "reserved device name " + stem;
        }
        return null;
    }

    /** The key two names share when Windows would take them for the same name. */
    static String caseKey(String name) {
        StringBuilder b = new StringBuilder(name.length());
        name.codePoints().forEach(cp -> b.appendCodePoint(Character.toUpperCase(cp)));
        return b.toString();
    }
}
