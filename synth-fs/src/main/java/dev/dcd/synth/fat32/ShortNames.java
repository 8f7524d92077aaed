package dev.dcd.synth.fat32;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * 8.3 short names for long names, the way Windows derives them (fatgen103, "The Basis-Name Generation
 * Algorithm" and "The Numeric-Tail Generation Algorithm"). Short names are kept to printable ASCII: any other
 * character becomes '_' (a lossy conversion, which forces a numeric tail), so no OEM code page is assumed.
 */
final class ShortNames {
    static final int BASE_LENGTH = 8;
    static final int EXT_LENGTH = 3;
    static final int LENGTH = BASE_LENGTH + EXT_LENGTH;
    /** Characters allowed in a short name besides A-Z and 0-9. */
    private static final String SPECIALS = "$%'-_@~`!(){}^#&";
    private static final int MAX_TAIL = 999_999;

    private ShortNames() {
    }

    static boolean isShortChar(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || SPECIALS.indexOf(c) >= 0;
    }

    /**
     * The 11-byte short name when {@code longName} already is a valid 8.3 name apart from letter case (one
     * dot at most, 1-8 name and 0-3 extension characters, all allowed), else null.
     */
    static byte[] exact(String longName) {
        int dot = longName.indexOf('.');
        String base = dot < 0 ? longName : longName.substring(0, dot);
        String ext = dot < 0 ? "" : longName.substring(dot + 1);
        if (base.isEmpty() || base.length() > BASE_LENGTH || ext.length() > EXT_LENGTH || (dot >= 0 && ext.isEmpty())
                || ext.indexOf('.') >= 0) {
            return null;
        }
        String upper = upper(base) + "." + upper(ext);
        for (int i = 0; i < upper.length(); i++) {
            char c = upper.charAt(i);
            if (c != '.' && !isShortChar(c)) {
                return null;
            }
        }
        return pack(upper(base), upper(ext));
    }

    /**
     * Picks the short name for {@code longName}: the name itself when it is a valid 8.3 name, else the basis
     * name with the lowest {@code ~N} tail not yet in {@code taken}. Adds the choice to {@code taken}.
     *
     * @param taken     short names already used in the directory, as 11-character strings
     * @param nextTails per basis name, the lowest tail not yet known to be taken; names only ever get added,
     *                  so the search resumes there and a directory of n similar names costs O(n), not O(n^2)
     */
    static byte[] choose(String longName, Set<String> taken, Map<String, Integer> nextTails) {
        byte[] exact = exact(longName);
        if (exact != null && taken.add(key(exact))) {
            return exact;
        }
        String[] basis = basis(longName);
        String basisKey = basis[0] + "." + basis[1];
        for (int n = nextTails.getOrDefault(basisKey, 1); n <= MAX_TAIL; n++) {
            String tail = "~" + n;
            String base = basis[0].substring(0, Math.min(basis[0].length(), BASE_LENGTH - tail.length())) + tail;
            byte[] candidate = pack(base, basis[1]);
            if (taken.add(key(candidate))) {
                nextTails.put(basisKey, n + 1);
                return candidate;
            }
        }
        throw new IllegalStateException("more than " + MAX_TAIL + " names share the short-name basis of " + longName);
    }

    static byte[] choose(String longName, Set<String> taken) {
        return choose(longName, taken, new HashMap<>());
    }

    /**
     * The basis name: upper case, invalid characters to '_', spaces and leading dots dropped, the name up to
     * its first dot (8 characters at most) and the extension after its last dot (3 at most).
     */
    static String[] basis(String longName) {
        StringBuilder cleaned = new StringBuilder();
        longName.codePoints().forEach(cp -> {
            if (cp == ' ') {
                return;
            }
            if (cp == '.') {
                cleaned.append('.');
                return;
            }
            int up = Character.toUpperCase(cp);
            cleaned.append(up < 0x80 && isShortChar((char) up) ? (char) up : '_');
        });
        int start = 0;
        while (start < cleaned.length() && cleaned.charAt(start) == '.') {
            start++;
        }
        String s = cleaned.substring(start);
        int firstDot = s.indexOf('.');
        int lastDot = s.lastIndexOf('.');
        String base = firstDot < 0 ? s : s.substring(0, firstDot);
        if (base.length() > BASE_LENGTH) {
            base = base.substring(0, BASE_LENGTH);
        }
        String ext = lastDot < 0 ? "" : s.substring(lastDot + 1);
        if (ext.length() > EXT_LENGTH) {
            ext = ext.substring(0, EXT_LENGTH);
        }
        if (base.isEmpty()) {
            base = "_";
        }
        return new String[] {base, ext};
    }

    /** The checksum of an 11-byte short name that every long-name entry of the set carries (fatgen103). */
    static int checksum(byte[] shortName) {
        int sum = 0;
        for (int i = 0; i < LENGTH; i++) {
            sum = (((sum & 1) << 7) | ((sum & 0xFF) >>> 1)) + (shortName[i] & 0xFF);
            sum &= 0xFF;
        }
        return sum;
    }

    static String key(byte[] shortName) {
        return new String(shortName, StandardCharsets.US_ASCII);
    }

    /** The name as mdir shows it: "BASE.EXT", or "BASE" without an extension. */
    static String display(byte[] shortName) {
        String base = new String(shortName, 0, BASE_LENGTH, StandardCharsets.US_ASCII).stripTrailing();
        String ext = new String(shortName, BASE_LENGTH, EXT_LENGTH, StandardCharsets.US_ASCII).stripTrailing();
        return ext.isEmpty() ? base : base + "." + ext;
    }

    private static byte[] pack(String base, String ext) {
        byte[] out = new byte[LENGTH];
        java.util.Arrays.fill(out, (byte) ' ');
        for (int i = 0; i < base.length(); i++) {
            out[i] = (byte) base.charAt(i);
        }
        for (int i = 0; i < ext.length(); i++) {
            out[BASE_LENGTH + i] = (byte) ext.charAt(i);
        }
        return out;
    }

    private static String upper(String s) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> b.appendCodePoint(Character.toUpperCase(cp)));
        return b.toString();
    }
}
