package dev.dcd.catalog;

import dev.dcd.testing.Hashes;
import dev.dcd.testing.ProcessRunner;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Builds hand-crafted archives (including malicious ones) and runs real archivers for the tests. */
final class Archives {
    private Archives() {
    }

    /** A tar written entry by entry; names go out byte for byte in the given charset. */
    static final class Tar {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final TarArchiveOutputStream tar;

        Tar() {
            this(StandardCharsets.UTF_8.name());
        }

        Tar(String encoding) {
            tar = new TarArchiveOutputStream(bytes, encoding);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        }

        Tar file(String name, String content) throws IOException {
            return file(name, content.getBytes(StandardCharsets.UTF_8), 0644);
        }

        Tar file(String name, byte[] content, int mode) throws IOException {
            TarArchiveEntry e = new TarArchiveEntry(name, true);
            e.setSize(content.length);
            e.setMode(0100000 | mode);
            e.setModTime(1_700_000_000_000L);
            tar.putArchiveEntry(e);
            tar.write(content);
            tar.closeArchiveEntry();
            return this;
        }

        Tar dir(String name) throws IOException {
            TarArchiveEntry e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/", true);
            e.setMode(040755);
            tar.putArchiveEntry(e);
            tar.closeArchiveEntry();
            return this;
        }

        Tar link(String name, String target, byte type) throws IOException {
            TarArchiveEntry e = new TarArchiveEntry(name, type, true);
            e.setLinkName(target);
            tar.putArchiveEntry(e);
            tar.closeArchiveEntry();
            return this;
        }

        Tar symlink(String name, String target) throws IOException {
            return link(name, target, TarArchiveEntry.LF_SYMLINK);
        }

        Tar hardlink(String name, String target) throws IOException {
            return link(name, target, TarArchiveEntry.LF_LINK);
        }

        Tar special(String name, byte type) throws IOException {
            TarArchiveEntry e = new TarArchiveEntry(name, type, true);
            e.setMode(0644);
            tar.putArchiveEntry(e);
            tar.closeArchiveEntry();
            return this;
        }

        byte[] bytes() throws IOException {
            tar.finish();
            tar.close();
            return bytes.toByteArray();
        }

        Path write(Path file) throws IOException {
            byte[] data = bytes();
            if (file.getFileName().toString().endsWith("gz")) {
                ByteArrayOutputStream gz = new ByteArrayOutputStream();
                try (GzipCompressorOutputStream out = new GzipCompressorOutputStream(gz)) {
                    out.write(data);
                }
                data = gz.toByteArray();
            }
            Files.write(file, data);
            return file;
        }
    }

    /** A zip written entry by entry, with raw names in the given charset. */
    static final class Zip {
        private final ZipArchiveOutputStream zip;
        private final Path file;

        Zip(Path file) throws IOException {
            this(file, StandardCharsets.UTF_8.name());
        }

        Zip(Path file, String encoding) throws IOException {
            this.file = file;
            this.zip = new ZipArchiveOutputStream(file);
            zip.setEncoding(encoding);
            zip.setUseLanguageEncodingFlag(encoding.equals(StandardCharsets.UTF_8.name()));
        }

        Zip file(String name, byte[] content, int mode, boolean stored) throws IOException {
            ZipArchiveEntry e = new ZipArchiveEntry(name);
            e.setUnixMode(0100000 | mode);
            if (stored) {
                e.setMethod(ZipArchiveEntry.STORED);
                e.setSize(content.length);
                java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                crc.update(content);
                e.setCrc(crc.getValue());
            }
            zip.putArchiveEntry(e);
            zip.write(content);
            zip.closeArchiveEntry();
            return this;
        }

        Zip file(String name, String content) throws IOException {
            return file(name, content.getBytes(StandardCharsets.UTF_8), 0644, false);
        }

        Zip symlink(String name, String target) throws IOException {
            ZipArchiveEntry e = new ZipArchiveEntry(name);
            e.setUnixMode(0120777);
            zip.putArchiveEntry(e);
            zip.write(target.getBytes(StandardCharsets.UTF_8));
            zip.closeArchiveEntry();
            return this;
        }

        Zip dir(String name) throws IOException {
            ZipArchiveEntry e = new ZipArchiveEntry(name.endsWith("/") ? name : name + "/");
            e.setUnixMode(040755);
            zip.putArchiveEntry(e);
            zip.closeArchiveEntry();
            return this;
        }

        Path write() throws IOException {
            zip.finish();
            zip.close();
            return file;
        }
    }

    static void run(Path dir, String... command) {
        ProcessRunner.command(command).directory(dir).mergeErr().run().requireOk();
    }

    static List<String> sh(Path dir, String script) {
        return ProcessRunner.command("bash", "-c", script).directory(dir).mergeErr().run().requireOk().out().lines().toList();
    }

    static String sha256(InputStream in) throws IOException {
        return Hashes.sha256(in);
    }

    static String sha256(Path file) {
        return Hashes.sha256(file);
    }
}
