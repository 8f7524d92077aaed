package dev.dcd.catalog;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** What an import source is, decided by its type and file-name suffix. */
enum SourceFormat {
    DIRECTORY(""),
    TAR(".tar"),
    TAR_GZ(".tar.gz", ".tgz"),
    TAR_XZ(".tar.xz", ".txz"),
    TAR_BZ2(".tar.bz2", ".tbz2", ".tbz"),
    TAR_ZST(".tar.zst", ".tzst"),
    ZIP(".zip"),
    DEB(".deb");

    private final String[] suffixes;

    SourceFormat(String... suffixes) {
        this.suffixes = suffixes;
    }

    static SourceFormat detect(Path source) throws CatalogException {
        if (Files.isDirectory(source)) {
            return DIRECTORY;
        }
        String name = source.getFileName().toString().toLowerCase(Locale.ROOT);
        for (SourceFormat format : values()) {
            for (String suffix : format.suffixes) {
                if (!suffix.isEmpty() && name.endsWith(suffix)) {
                    return format;
                }
            }
        }
        throw new CatalogException("cannot tell the archive type of '" + source.getFileName()
                + "' (supported: a directory, .tar, .tar.gz/.tgz, .tar.xz, .tar.bz2, .tar.zst, .zip, .deb)");
    }

    /** The file name without this format's suffix: {@code foo-1.2.tar.gz} gives {@code foo-1.2}. */
    String stem(String fileName) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        for (String suffix : suffixes) {
            if (!suffix.isEmpty() && lower.endsWith(suffix)) {
                return fileName.substring(0, fileName.length() - suffix.length());
            }
        }
        return fileName;
    }

    /** The compression a tar-ish member name implies ({@code data.tar.xz}), or null when it is not a tar. */
    static SourceFormat ofMemberName(String name) {
        for (SourceFormat format : new SourceFormat[]{TAR, TAR_GZ, TAR_XZ, TAR_BZ2, TAR_ZST}) {
            for (String suffix : format.suffixes) {
                if (name.endsWith(suffix)) {
                    return format;
                }
            }
        }
        return null;
    }
}
