package dev.dcd.catalog;

import dev.dcd.backend.Progress;
import dev.dcd.vdisk.InvalidEntryException;
import dev.dcd.vdisk.VdiskPaths;
import dev.dcd.vdisk.VdiskWriter;
import org.apache.commons.compress.archivers.ar.ArArchiveEntry;
import org.apache.commons.compress.archivers.ar.ArArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.archivers.tar.TarUtils;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32;

/**
 * Turns each kind of import source into calls on a {@link VdiskWriter}. The writer enforces the path rules;
 * these readers only translate, decode names strictly, and tell a corrupt archive from a bad entry.
 */
final class SourceReaders {
    /** A symlink target stored as zip entry data; longer than any valid target means a corrupt entry. */
    private static final int MAX_ZIP_LINK_TARGET = 4096;
    private static final int DEFAULT_DIR_MODE = 0755;
    private static final int DEFAULT_FILE_MODE = 0644;

    private SourceReaders() {
    }

    /** Package name and version from a .deb's control file. */
    record DebIdentity(String name, String version) {
    }

    static void read(SourceFormat format, Path source, VdiskWriter writer, Progress progress, Consumer<String> warn)
            throws IOException {
        read(format, source, writer, progress, warn, ImportRequest.DEFAULT_MAX_RATIO);
    }

    /** @param maxRatio most expanded bytes per compressed byte read, past {@link ExpansionGuard#FLOOR}; 0 for no limit */
    static void read(SourceFormat format, Path source, VdiskWriter writer, Progress progress, Consumer<String> warn,
                     long maxRatio) throws IOException {
        String what = source.getFileName().toString();
        ExpansionGuard bomb = new ExpansionGuard(what, maxRatio);
        switch (format) {
            case DIRECTORY -> readDirectory(source, writer, progress, warn);
            case ZIP -> readZip(source, writer, progress, warn, bomb);
            case DEB -> readDeb(source, writer, progress, warn, bomb);
            default -> {
                try (InputStream file = bomb.compressed(counting(Files.newInputStream(source), progress));
                     InputStream tar = bomb.expanded(decompress(format, guard(file, what), what))) {
                    readTar(tar, what, writer, warn);
                }
            }
        }
    }

    // ------------------------------------------------------------------ tar

    /** The decompressed stream; closing it releases the decompressor (zstd holds native memory), not {@code in}. */
    static InputStream decompress(SourceFormat format, InputStream in, String what) throws IOException {
        InputStream buffered = new BufferedInputStream(in, 1 << 16);
        try {
            InputStream raw = switch (format) {
                case TAR -> buffered;
                case TAR_GZ -> GzipCompressorInputStream.builder().setInputStream(buffered).setDecompressConcatenated(true).get();
                case TAR_XZ -> new XZCompressorInputStream(buffered, true);
                case TAR_BZ2 -> new BZip2CompressorInputStream(buffered, true);
                case TAR_ZST -> new ZstdCompressorInputStream(buffered);
                default -> throw new IllegalArgumentException(format + " is not a tar format");
            };
            return new FilterInputStream(guard(raw, what)) {
                @Override
                public void close() throws IOException {
                    raw.close();
                }
            };
        } catch (IOException e) {
            throw corrupt(what, e);
        }
    }

    static void readTar(InputStream source, String what, VdiskWriter writer, Consumer<String> warn) throws IOException {
        InputStream in = requireTarHeader(source, what);
        TarArchiveInputStream tar = new TarArchiveInputStream(in, StrictUtf8.NAME);
        InputStream data = guard(tar, what);
        TarArchiveEntry entry;
        while ((entry = nextTar(tar, what)) != null) {
            String name = entry.getName();
            FileTime mtime = entry.getLastModifiedTime();
            long seconds = mtime == null ? 0 : mtime.toInstant().getEpochSecond();
            int nanos = mtime == null ? 0 : mtime.toInstant().getNano();
            int uid = (int) entry.getLongUserId();
            int gid = (int) entry.getLongGroupId();
            int mode = entry.getMode() & 07777;
            if (entry.isCharacterDevice() || entry.isBlockDevice() || entry.isFIFO()) {
                warn.accept("skipped " + kind(entry) + " '" + VdiskPaths.printable(name) + "' (apps hold no device nodes or fifos)");
            } else if (entry.isDirectory()) {
                writer.directory(name, mode, uid, gid, seconds, nanos);
            } else if (entry.isSymbolicLink()) {
                writer.symlink(name, checkTarget(name, entry.getLinkName()), uid, gid, seconds, nanos);
            } else if (entry.isLink()) {
                writer.hardlink(name, entry.getLinkName());
            } else if (entry.isFile()) {
                writer.file(name, mode, uid, gid, seconds, nanos, data, entry.isSparse() ? -1 : entry.getSize());
            } else {
                warn.accept("skipped '" + VdiskPaths.printable(name) + "' of unsupported tar type '"
                        + (char) entry.getLinkFlag() + "'");
            }
        }
        drain(in, what);
    }

    /**
     * Checks the first 512-byte header's checksum before Commons Compress parses it. Without this, random bytes
     * named {@code .tar} fail on their "name" field and read as a bad file name instead of as not a tar at all.
     * An all-zero first record is a valid empty archive; the stream returned still starts at byte 0.
     */
    private static InputStream requireTarHeader(InputStream in, String what) throws IOException {
        PushbackInputStream peek = new PushbackInputStream(in, TarConstants.DEFAULT_RCDSIZE);
        byte[] header = peek.readNBytes(TarConstants.DEFAULT_RCDSIZE);
        peek.unread(header);
        boolean empty = true;
        for (byte b : header) {
            empty &= b == 0;
        }
        if (header.length == 0 || empty) {
            return peek;
        }
        if (header.length < TarConstants.DEFAULT_RCDSIZE) {
            throw new CorruptSourceException(what + " is not a tar archive: it is shorter than one "
                    + TarConstants.DEFAULT_RCDSIZE + "-byte tar header", null);
        }
        boolean valid;
        try {
            valid = TarUtils.verifyCheckSum(header);
        } catch (IllegalArgumentException notOctal) {
            valid = false; // the checksum field itself is not a number
        }
        if (!valid) {
            throw new CorruptSourceException(what + " is not a tar archive: its first header fails the tar checksum", null);
        }
        return peek;
    }

    private static String kind(TarArchiveEntry entry) {
        return entry.isFIFO() ? "fifo" : entry.isBlockDevice() ? "block device" : "character device";
    }

    private static TarArchiveEntry nextTar(TarArchiveInputStream tar, String what) throws IOException {
        try {
            return tar.getNextEntry();
        } catch (CharacterCodingException e) {
            throw new InvalidEntryException("an entry in " + what + " has a name that is not valid UTF-8");
        } catch (CorruptSourceException | InvalidEntryException e) {
            throw e; // already says what is wrong (a bomb refused by ExpansionGuard reads through here)
        } catch (IOException | IllegalArgumentException e) {
            if (e.getCause() instanceof CharacterCodingException) {
                throw new InvalidEntryException("an entry in " + what + " has a name that is not valid UTF-8");
            }
            throw corrupt(what, e);
        }
    }

    /**
     * Reads what is left after the end-of-archive marker, so a damaged compressed trailer (a bad gzip CRC, a
     * cut xz index) is noticed instead of silently accepted.
     */
    private static void drain(InputStream in, String what) throws IOException {
        byte[] buffer = new byte[8192];
        while (in.read(buffer) >= 0) {
            // discard: tar padding after the end marker
        }
    }

    // ------------------------------------------------------------------ zip

    static void readZip(Path source, VdiskWriter writer, Progress progress, Consumer<String> warn) throws IOException {
        readZip(source, writer, progress, warn, new ExpansionGuard(source.getFileName().toString(), ImportRequest.DEFAULT_MAX_RATIO));
    }

    static void readZip(Path source, VdiskWriter writer, Progress progress, Consumer<String> warn, ExpansionGuard bomb)
            throws IOException {
        String what = source.getFileName().toString();
        ZipFile zip;
        try {
            zip = ZipFile.builder().setPath(source).setUseUnicodeExtraFields(false).get();
        } catch (IOException | IllegalArgumentException e) {
            throw corrupt(what, e);
        }
        try (zip) {
            long done = 0;
            for (ZipArchiveEntry entry : Collections.list(zip.getEntriesInPhysicalOrder())) {
                String name = strictName(entry.getRawName(), what);
                long millis = entry.getTime();
                long seconds = Math.floorDiv(millis, 1000);
                int nanos = (int) Math.floorMod(millis, 1000) * 1_000_000;
                boolean unix = entry.getPlatform() == ZipArchiveEntry.PLATFORM_UNIX && entry.getUnixMode() != 0;
                if (!zip.canReadEntryData(entry)) {
                    throw new InvalidEntryException("entry '" + VdiskPaths.printable(name) + "' in " + what
                            + " uses a compression method or encryption dcd cannot read");
                }
                if (entry.isDirectory()) {
                    writer.directory(name, unix ? entry.getUnixMode() & 07777 : DEFAULT_DIR_MODE, 0, 0, seconds, nanos);
                } else if (entry.isUnixSymlink()) {
                    byte[] target;
                    try (InputStream in = checked(zip.getInputStream(entry), entry, what)) {
                        target = in.readNBytes(MAX_ZIP_LINK_TARGET + 1);
                    }
                    if (target.length > MAX_ZIP_LINK_TARGET) {
                        throw new InvalidEntryException("symlink '" + VdiskPaths.printable(name) + "' in " + what + " has an invalid target");
                    }
                    writer.symlink(name, strictName(target, what), 0, 0, seconds, nanos);
                } else if (unix && isSpecial(entry.getUnixMode())) {
                    warn.accept("skipped special file '" + VdiskPaths.printable(name) + "' (apps hold no device nodes or fifos)");
                } else {
                    bomb.addCompressed(entry.getCompressedSize());
                    try (InputStream in = bomb.expanded(checked(zip.getInputStream(entry), entry, what))) {
                        writer.file(name, unix ? entry.getUnixMode() & 07777 : DEFAULT_FILE_MODE, 0, 0, seconds, nanos, in,
                                entry.getSize());
                    }
                }
                done += Math.max(0, entry.getCompressedSize());
                progress.advance(done);
            }
        }
    }

    private static boolean isSpecial(int unixMode) {
        int type = unixMode & 0170000;
        return type == 0020000 || type == 0060000 || type == 0010000 || type == 0140000;
    }

    /** Zip readers do not check CRCs; a flipped byte in stored data would otherwise import silently. */
    private static InputStream checked(InputStream in, ZipArchiveEntry entry, String what) {
        CRC32 crc = new CRC32();
        return new FilterInputStream(guard(in, what)) {
            private boolean verified;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    crc.update(b, off, n);
                } else if (n < 0 && !verified) {
                    verified = true;
                    if (entry.getCrc() != -1 && crc.getValue() != entry.getCrc()) {
                        throw new CorruptSourceException(what + " is corrupt: entry '" + VdiskPaths.printable(entry.getName())
                                + "' fails its CRC check", null);
                    }
                }
                return n;
            }
        };
    }

    /** Link targets decoded with replacement (PAX, host paths) carry U+FFFD where the bytes were not UTF-8. */
    private static String checkTarget(String name, String target) throws InvalidEntryException {
        if (target.indexOf('\uFFFD') >= 0) {
            throw new InvalidEntryException("symlink '" + VdiskPaths.printable(name) + "' has a target that is not valid UTF-8");
        }
        return target;
    }

    private static String strictName(byte[] raw, String what) throws InvalidEntryException {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            String lossy = new String(raw, StandardCharsets.ISO_8859_1);
            throw new InvalidEntryException("entry '" + VdiskPaths.printable(lossy) + "' in " + what
                    + " has a name that is not valid UTF-8");
        }
    }

    // ------------------------------------------------------------------ deb

    /** Reads Package and Version from the control member; a .deb puts it before the data member. */
    static DebIdentity debIdentity(Path source) throws IOException {
        String what = source.getFileName().toString();
        try (InputStream file = guard(Files.newInputStream(source), what);
             ArArchiveInputStream ar = new ArArchiveInputStream(new BufferedInputStream(file))) {
            ArArchiveEntry member;
            while ((member = nextAr(ar, what)) != null) {
                String name = member.getName();
                if (name.startsWith("control.tar")) {
                    SourceFormat format = SourceFormat.ofMemberName(name);
                    if (format == null) {
                        throw new CatalogException(what + " has a control member '" + name + "' in an unsupported format");
                    }
                    try (InputStream control = decompress(format, guard(ar, what), what)) {
                        return parseControl(control, what);
                    }
                }
            }
        }
        throw new CorruptSourceException(what + " is not a Debian package: it has no control.tar member", null);
    }

    private static DebIdentity parseControl(InputStream controlTar, String what) throws IOException {
        TarArchiveInputStream tar = new TarArchiveInputStream(controlTar, StrictUtf8.NAME);
        TarArchiveEntry entry;
        while ((entry = nextTar(tar, what)) != null) {
            String name = entry.getName();
            if (name.equals("control") || name.equals("./control")) {
                String text = new String(tar.readNBytes(1 << 20), StandardCharsets.UTF_8);
                String pkg = null;
                String version = null;
                for (String line : text.split("\n")) {
                    if (line.startsWith("Package:")) {
                        pkg = line.substring(8).trim();
                    } else if (line.startsWith("Version:")) {
                        version = line.substring(8).trim();
                    }
                }
                if (pkg == null || version == null) {
                    throw new CorruptSourceException(what + " has a control file without Package or Version", null);
                }
                return new DebIdentity(pkg, version);
            }
        }
        throw new CorruptSourceException(what + " is not a Debian package: control.tar has no control file", null);
    }

    static void readDeb(Path source, VdiskWriter writer, Progress progress, Consumer<String> warn) throws IOException {
        readDeb(source, writer, progress, warn, new ExpansionGuard(source.getFileName().toString(), ImportRequest.DEFAULT_MAX_RATIO));
    }

    static void readDeb(Path source, VdiskWriter writer, Progress progress, Consumer<String> warn, ExpansionGuard bomb)
            throws IOException {
        String what = source.getFileName().toString();
        try (InputStream file = bomb.compressed(counting(Files.newInputStream(source), progress));
             ArArchiveInputStream ar = new ArArchiveInputStream(new BufferedInputStream(guard(file, what)))) {
            ArArchiveEntry member;
            while ((member = nextAr(ar, what)) != null) {
                String name = member.getName();
                if (name.startsWith("data.tar")) {
                    SourceFormat format = SourceFormat.ofMemberName(name);
                    if (format == null) {
                        throw new CatalogException(what + " has a data member '" + name + "' in an unsupported format");
                    }
                    try (InputStream data = bomb.expanded(decompress(format, guard(ar, what), what))) {
                        readTar(data, what, writer, warn);
                    }
                    return;
                }
            }
        }
        throw new CorruptSourceException(what + " is not a Debian package: it has no data.tar member", null);
    }

    private static ArArchiveEntry nextAr(ArArchiveInputStream ar, String what) throws IOException {
        try {
            return ar.getNextEntry();
        } catch (CorruptSourceException | InvalidEntryException e) {
            throw e; // already says what is wrong (a bomb refused by ExpansionGuard reads through here)
        } catch (IOException | IllegalArgumentException e) {
            throw corrupt(what, e);
        }
    }

    // ------------------------------------------------------------------ directory

    static void readDirectory(Path root, VdiskWriter writer, Progress progress, Consumer<String> warn) throws IOException {
        Map<String, Object> rootAttrs = Files.readAttributes(root, "unix:mode,uid,gid,lastModifiedTime");
        FileTime rootTime = (FileTime) rootAttrs.get("lastModifiedTime");
        writer.directory("", (Integer) rootAttrs.get("mode") & 07777, (Integer) rootAttrs.get("uid"),
                (Integer) rootAttrs.get("gid"), rootTime.toInstant().getEpochSecond(), rootTime.toInstant().getNano());
        new DirectoryWalk(root, writer, progress, warn).walk(root, "");
    }

    private static final class DirectoryWalk {
        private final Path root;
        private final VdiskWriter writer;
        private final Progress progress;
        private final Consumer<String> warn;
        private final Map<String, String> firstNameOfInode = new HashMap<>();
        private long done;

        DirectoryWalk(Path root, VdiskWriter writer, Progress progress, Consumer<String> warn) {
            this.root = root;
            this.writer = writer;
            this.progress = progress;
            this.warn = warn;
        }

        void walk(Path dir, String relative) throws IOException {
            List<Path> children = new ArrayList<>();
            try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
                stream.forEach(children::add);
            }
            // Deterministic order regardless of the host filesystem's readdir order.
            children.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
            for (Path child : children) {
                String name = relative.isEmpty() ? child.getFileName().toString() : relative + "/" + child.getFileName();
                Map<String, Object> a = Files.readAttributes(child,
                        "unix:mode,uid,gid,ino,dev,nlink,lastModifiedTime,isRegularFile,isDirectory,isSymbolicLink",
                        LinkOption.NOFOLLOW_LINKS);
                FileTime time = (FileTime) a.get("lastModifiedTime");
                long seconds = time.toInstant().getEpochSecond();
                int nanos = time.toInstant().getNano();
                int mode = (Integer) a.get("mode") & 07777;
                int uid = (Integer) a.get("uid");
                int gid = (Integer) a.get("gid");
                if ((Boolean) a.get("isSymbolicLink")) {
                    writer.symlink(name, checkTarget(name, Files.readSymbolicLink(child).toString()), uid, gid, seconds, nanos);
                } else if ((Boolean) a.get("isDirectory")) {
                    writer.directory(name, mode, uid, gid, seconds, nanos);
                    walk(child, name);
                } else if ((Boolean) a.get("isRegularFile")) {
                    String inode = a.get("dev") + ":" + a.get("ino");
                    String first = (Integer) a.get("nlink") > 1 ? firstNameOfInode.putIfAbsent(inode, name) : null;
                    if (first != null) {
                        writer.hardlink(name, first);
                    } else {
                        long size = Files.size(child);
                        try (InputStream in = Files.newInputStream(child, LinkOption.NOFOLLOW_LINKS)) {
                            writer.file(name, mode, uid, gid, seconds, nanos, in, size);
                        }
                        done += size;
                        progress.advance(done);
                    }
                } else {
                    warn.accept("skipped special file '" + VdiskPaths.printable(root.relativize(child).toString())
                            + "' (apps hold no device nodes, fifos or sockets)");
                }
            }
        }
    }

    // ------------------------------------------------------------------ streams

    private static CorruptSourceException corrupt(String what, Exception e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new CorruptSourceException(what + " is truncated or corrupt: " + message, e);
    }

    /** Marks every read failure of the source as a corrupt source, so it is not mistaken for a local I/O error. */
    static InputStream guard(InputStream in, String what) {
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                try {
                    return super.read();
                } catch (CorruptSourceException | InvalidEntryException e) {
                    throw e;
                } catch (IOException | RuntimeException e) {
                    throw corrupt(what, e);
                }
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                try {
                    return super.read(b, off, len);
                } catch (CorruptSourceException | InvalidEntryException e) {
                    throw e;
                } catch (IOException | RuntimeException e) {
                    throw corrupt(what, e);
                }
            }

            @Override
            public void close() {
                // the owner of the underlying stream closes it
            }
        };
    }

    private static InputStream counting(InputStream in, Progress progress) {
        return new FilterInputStream(in) {
            private long count;

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    progress.advance(++count);
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    count += n;
                    progress.advance(count);
                }
                return n;
            }
        };
    }

    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }
}
