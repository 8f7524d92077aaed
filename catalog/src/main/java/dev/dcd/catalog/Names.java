package dev.dcd.catalog;

import java.util.Comparator;
import java.util.regex.Pattern;

/**
 * Rules for the names the catalog stores. Names appear inside RocksDB keys separated by '/', and in
 * {@code APP@VERSION} on the command line, so neither may contain those characters.
 */
public final class Names {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]{0,127}");
    /** Debian versions bring ':' (epoch) and '~'; npm versions bring '+' build metadata. */
    private static final Pattern VERSION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+~:-]{0,127}");

    /** Natural order: digit runs compare as numbers, so 1.10 sorts after 1.9. */
    public static final Comparator<String> VERSION_ORDER = Names::compareVersions;

    private Names() {
    }

    public static String checkName(String what, String name) throws CatalogException {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new CatalogException(what + " name '" + (name == null ? "" : dev.dcd.vdisk.VdiskPaths.printable(name))
                    + "' is invalid (use letters, digits, '.', '_', '+', '-'; at most 128 characters)");
        }
        return name;
    }

    public static String checkVersion(String version) throws CatalogException {
        if (version == null || !VERSION.matcher(version).matches()) {
            throw new CatalogException("version '" + (version == null ? "" : dev.dcd.vdisk.VdiskPaths.printable(version))
                    + "' is invalid (use letters, digits, '.', '_', '+', '~', ':', '-'; at most 128 characters)");
        }
        return version;
    }

    static int compareVersions(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char x = a.charAt(i);
            char y = b.charAt(j);
            if (Character.isDigit(x) && Character.isDigit(y)) {
                int si = i;
                int sj = j;
                while (i < a.length() && Character.isDigit(a.charAt(i))) {
                    i++;
                }
                while (j < b.length() && Character.isDigit(b.charAt(j))) {
                    j++;
                }
                String na = a.substring(si, i).replaceFirst("^0+(?=.)", "");
                String nb = b.substring(sj, j).replaceFirst("^0+(?=.)", "");
                int c = na.length() != nb.length() ? Integer.compare(na.length(), nb.length()) : na.compareTo(nb);
                if (c != 0) {
                    return c;
                }
            } else {
                if (x != y) {
                    return Character.compare(x, y);
                }
                i++;
                j++;
            }
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
