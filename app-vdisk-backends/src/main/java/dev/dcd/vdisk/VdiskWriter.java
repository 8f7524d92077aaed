package dev.dcd.vdisk;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds a vdisk file from a stream of entries, in one pass over the data.
 *
 * <p>This is the one place every import goes through, so it enforces the rules that keep an app inside its
 * root: normalized relative paths, no duplicates, no entry under a symlink or a file, hardlinks only to
 * files already written, and a bound on the bytes an archive may expand to.
 */
public final class VdiskWriter implements Closeable {
    private static final int DEFAULT_DIR_MODE = 0755;

    private final Path file;
    private final FileChannel channel;
    private final String appName;
    private final String appVersion;
    private final long maxContentBytes;
    private final Map<String, Entry> entries = new TreeMap<>();
    private final Map<String, Boolean> explicitDirs = new HashMap<>();
    private final Map<String, Long> offsetsBySha = new HashMap<>();
    private final MessageDigest digest;
    private final DataAppender data;
    private long contentBytes;
    private boolean finished;

    private VdiskWriter(Path file, String appName, String appVersion, long maxContentBytes) throws IOException {
        this.file = file;
        this.appName = appName;
        this.appVersion = appVersion;
        this.maxContentBytes = maxContentBytes;
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        this.data = new DataAppender(channel, file.toString(), VdiskFormat.HEADER_SIZE);
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * @param maxContentBytes the most file bytes the app may hold; past it the import fails (zip-bomb guard)
     */
    public static VdiskWriter create(Path file, String appName, String appVersion, long maxContentBytes) throws IOException {
        return new VdiskWriter(file, appName, appVersion, maxContentBytes);
    }

    /** Bytes of file content written so far (before deduplication). */
    public long contentBytes() {
        return contentBytes;
    }

    public int entryCount() {
        return entries.size();
    }

    public void directory(String rawPath, int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos) throws IOException {
        String path = VdiskPaths.normalize(rawPath);
        Entry existing = entries.get(path);
        if (existing != null && (!existing.isDirectory() || explicitDirs.containsKey(path))) {
            throw duplicate(rawPath);
        }
        if (!path.isEmpty()) {
            ensureParents(path, mtimeSeconds);
        }
        explicitDirs.put(path, Boolean.TRUE);
        entries.put(path, new Entry(path, EntryType.DIRECTORY, mode & 07777, uid, gid, mtimeSeconds, mtimeNanos,
                0, 0, Entry.NO_HASH, ""));
    }

    /**
     * Copies a file's bytes into the data region. {@code declaredSize} is what the archive claims, or -1 when
     * unknown; a stream that ends early or runs long is a corrupt archive.
     */
    public void file(String rawPath, int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos,
                     InputStream in, long declaredSize) throws IOException {
        String path = checkNew(rawPath, mtimeSeconds);
        long start = data.position();
        digest.reset();
        long size = 0;
        while (true) {
            int n = data.read(in, digest);
            if (n < 0) {
                break;
            }
            size += n;
            contentBytes += n;
            if (contentBytes > maxContentBytes) {
                throw new InvalidEntryException("archive expands past the size limit of " + maxContentBytes
                        + " bytes (at '" + VdiskPaths.printable(rawPath) + "'); raise it with --max-size if this is expected");
            }
            if (declaredSize >= 0 && size > declaredSize) {
                throw new InvalidEntryException("entry '" + VdiskPaths.printable(rawPath) + "' holds more than its declared "
                        + declaredSize + " bytes; the archive is corrupt");
            }
        }
        if (declaredSize >= 0 && size != declaredSize) {
            throw new InvalidEntryException("entry '" + VdiskPaths.printable(rawPath) + "' is truncated: " + size
                    + " of " + declaredSize + " bytes; the archive is corrupt");
        }
        byte[] sha = digest.digest();
        long offset;
        if (size == 0) {
            offset = 0;
            rollBack(start);
        } else {
            String key = HexFormat.of().formatHex(sha);
            Long previous = offsetsBySha.get(key);
            if (previous != null) {
                offset = previous;
                rollBack(start);
            } else {
                offset = start;
                offsetsBySha.put(key, start);
                padToBlock();
            }
        }
        entries.put(path, new Entry(path, EntryType.FILE, mode & 07777, uid, gid, mtimeSeconds, mtimeNanos, size,
                offset, sha, ""));
    }

    public void symlink(String rawPath, String target, int uid, int gid, long mtimeSeconds, int mtimeNanos) throws IOException {
        String path = checkNew(rawPath, mtimeSeconds);
        VdiskPaths.checkSymlink(path, target);
        int length = target.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        entries.put(path, new Entry(path, EntryType.SYMLINK, 0777, uid, gid, mtimeSeconds, mtimeNanos, length, 0,
                Entry.NO_HASH, target));
    }

    /** A second name for a file already written; it shares that file's inode, attributes and data. */
    public void hardlink(String rawPath, String rawTarget) throws IOException {
        String target;
        try {
            target = VdiskPaths.normalize(rawTarget);
        } catch (InvalidEntryException e) {
            throw new InvalidEntryException("hardlink '" + VdiskPaths.printable(rawPath) + "' -> '"
                    + VdiskPaths.printable(rawTarget) + "' escapes the app root");
        }
        Entry linked = entries.get(target);
        if (linked != null && linked.isHardlink()) {
            linked = entries.get(linked.target());
        }
        if (linked == null || !linked.isFile()) {
            throw new InvalidEntryException("hardlink '" + VdiskPaths.printable(rawPath) + "' -> '"
                    + VdiskPaths.printable(rawTarget) + "' does not name a regular file earlier in the archive");
        }
        String path = checkNew(rawPath, linked.mtimeSeconds());
        entries.put(path, new Entry(path, EntryType.HARDLINK, linked.mode(), linked.uid(), linked.gid(),
                linked.mtimeSeconds(), linked.mtimeNanos(), linked.size(), linked.dataOffset(), linked.sha256(),
                linked.path()));
    }

    private String checkNew(String rawPath, long mtimeSeconds) throws InvalidEntryException {
        String path = VdiskPaths.normalize(rawPath);
        if (path.isEmpty()) {
            throw new InvalidEntryException("entry '" + VdiskPaths.printable(rawPath) + "' names the app root but is not a directory");
        }
        if (entries.containsKey(path)) {
            throw duplicate(rawPath);
        }
        ensureParents(path, mtimeSeconds);
        return path;
    }

    private void ensureParents(String path, long mtimeSeconds) throws InvalidEntryException {
        int slash = -1;
        while ((slash = path.indexOf('/', slash + 1)) >= 0) {
            String parent = path.substring(0, slash);
            Entry existing = entries.get(parent);
            if (existing == null) {
                entries.put(parent, new Entry(parent, EntryType.DIRECTORY, DEFAULT_DIR_MODE, 0, 0, mtimeSeconds, 0, 0, 0,
                        Entry.NO_HASH, ""));
            } else if (!existing.isDirectory()) {
                throw new InvalidEntryException("entry '" + VdiskPaths.printable(path) + "' lies under '"
                        + VdiskPaths.printable(parent) + "', which is a " + existing.type().name().toLowerCase()
                        + ", not a directory");
            }
        }
    }

    private static InvalidEntryException duplicate(String rawPath) {
        return new InvalidEntryException("duplicate entry '" + VdiskPaths.printable(rawPath) + "' in the archive");
    }

    /** Writes checksums, manifest and header, forces the file to disk, and returns what was sealed. */
    public SealedVdisk finish() throws IOException {
        if (finished) {
            throw new IllegalStateException("already finished");
        }
        finished = true;
        long dataOffset = VdiskFormat.HEADER_SIZE;
        long position = data.position();
        long dataLength = position - dataOffset;
        int[] crcs = data.finish();
        channel.truncate(position);
        List<Entry> list = new ArrayList<>(entries.values());
        Manifest manifest = new Manifest(appName, appVersion, list, dataOffset, dataLength, crcs);
        byte[] encoded = manifest.encode();
        ContentId id = ContentId.of(Manifest.sha256(encoded));
        long manifestOffset = position;
        writeFully(ByteBuffer.wrap(encoded), manifestOffset);
        VdiskHeader header = new VdiskHeader(dataOffset, dataLength, manifestOffset, encoded.length, id);
        writeFully(ByteBuffer.wrap(header.encode()), 0);
        channel.force(true);
        channel.close();
        return new SealedVdisk(file, id, manifestOffset + encoded.length, manifest);
    }

    /** A file just written turned out empty or a duplicate: the data region ends where it started again. */
    private void rollBack(long start) throws IOException {
        if (data.position() != start) {
            data.rollBack(start);
        }
    }

    /**
     * Zero-fills the tail of the last block explicitly: a deduplicated file may have left bytes there before
     * being rolled back, and readers rely on a file's last block being zero past its end.
     */
    private void padToBlock() throws IOException {
        long position = data.position();
        data.zeros((int) (VdiskFormat.alignUp(position) - position));
    }

    private void writeFully(ByteBuffer src, long at) throws IOException {
        while (src.hasRemaining()) {
            at += channel.write(src, at);
        }
    }

    @Override
    public void close() throws IOException {
        data.abandon();
        if (channel.isOpen()) {
            channel.close();
        }
    }
}
