package dev.dcd.service;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Packs a directory as {@code .tar.gz} or {@code .zip}, keeping modes, times and symlinks, so the demo can import
 * the samples through the archive readers too. Written beside the target and renamed into place.
 */
public final class SampleArchives {
    private SampleArchives() {
    }

    private static List<Path> tree(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> !p.equals(root)).sorted().toList();
        }
    }

    private static String relative(Path root, Path p) {
        return root.relativize(p).toString().replace('\\', '/');
    }

    public static Path packTarGz(Path root, Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".part");
        try (OutputStream file = Files.newOutputStream(tmp);
             GzipCompressorOutputStream gz = new GzipCompressorOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(gz, StandardCharsets.UTF_8.name())) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Path p : tree(root)) {
                String name = relative(root, p);
                TarArchiveEntry entry;
                if (Files.isSymbolicLink(p)) {
                    entry = new TarArchiveEntry(name, TarArchiveEntry.LF_SYMLINK);
                    entry.setLinkName(Files.readSymbolicLink(p).toString());
                } else {
                    entry = new TarArchiveEntry(p.toFile(), Files.isDirectory(p) ? name + "/" : name);
                    entry.setMode((Files.isDirectory(p) ? 040000 : 0100000) | mode(p));
                }
                entry.setModTime(Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS));
                tar.putArchiveEntry(entry);
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.copy(p, tar);
                }
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        return target;
    }

    public static Path packZip(Path root, Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".part");
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(tmp)) {
            for (Path p : tree(root)) {
                String name = relative(root, p);
                boolean dir = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
                ZipArchiveEntry entry = new ZipArchiveEntry(dir ? name + "/" : name);
                entry.setLastModifiedTime(Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS));
                if (Files.isSymbolicLink(p)) {
                    entry.setUnixMode(0120777);
                    zip.putArchiveEntry(entry);
                    zip.write(Files.readSymbolicLink(p).toString().getBytes(StandardCharsets.UTF_8));
                } else {
                    entry.setUnixMode((dir ? 040000 : 0100000) | mode(p));
                    zip.putArchiveEntry(entry);
                    if (!dir) {
                        Files.copy(p, zip);
                    }
                }
                zip.closeArchiveEntry();
            }
            zip.finish();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        return target;
    }

    private static int mode(Path p) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        int mode = 0;
        for (PosixFilePermission perm : perms) {
            mode |= 1 << (8 - perm.ordinal());
        }
        return mode;
    }

}
