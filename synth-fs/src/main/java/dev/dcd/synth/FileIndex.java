package dev.dcd.synth;

import java.io.Closeable;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Every name on a synthesized disk with its attributes and, for regular files, where its bytes lie on the
 * disk (absolute disk offsets, not partition offsets). Written by the synthesizer as
 * {@value #FILE_NAME}; the FUSE {@code files/} view reads through the disk at these extents, so there is
 * one data path.
 */
public final class FileIndex {
    public static final String FILE_NAME = "files.idx";
    static final byte[] MAGIC = "DCDFIDX2".getBytes(StandardCharsets.US_ASCII);

    public enum Kind { DIRECTORY, FILE, SYMLINK }

    /**
     * @param path    "" for the root, else relative with '/' separators
     * @param fileId  equal for names of the same file (hardlinks); usable as an inode number
     * @param extents pairs of (disk offset, length) in file order; their lengths add up to at least {@code size}
     */
    public record Node(String path, Kind kind, int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos,
                       long size, int linkCount, long fileId, String target, long[] extents) {
        public String name() {
            int slash = path.lastIndexOf('/');
            return slash < 0 ? path : path.substring(slash + 1);
        }

        public String parent() {
            int slash = path.lastIndexOf('/');
            return slash < 0 ? "" : path.substring(0, slash);
        }

        public int extentCount() {
            return extents.length / 2;
        }

        public long extentOffset(int i) {
            return extents[2 * i];
        }

        public long extentLength(int i) {
            return extents[2 * i + 1];
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Node n && path.equals(n.path) && kind == n.kind && mode == n.mode && uid == n.uid
                    && gid == n.gid && mtimeSeconds == n.mtimeSeconds && mtimeNanos == n.mtimeNanos && size == n.size
                    && linkCount == n.linkCount && fileId == n.fileId && target.equals(n.target)
                    && Arrays.equals(extents, n.extents);
        }

        @Override
        public int hashCode() {
            return path.hashCode();
        }
    }

    private final Map<String, Node> byPath;
    private final Map<String, List<String>> children;

    private FileIndex(Map<String, Node> byPath, Map<String, List<String>> children) {
        this.byPath = byPath;
        this.children = children;
    }

    public Node get(String path) {
        return byPath.get(path);
    }

    /** Names inside a directory, in the order the synthesizer listed them. */
    public List<String> list(String directory) {
        return children.getOrDefault(directory, List.of());
    }

    public int size() {
        return byPath.size();
    }

    // ---- files.idx, format 2: docs/file-index-format.md describes it byte by byte. Little-endian. ----

    static final int VERSION = 2;
    static final byte[] MAGIC_V1 = "DCDFIDX1".getBytes(StandardCharsets.US_ASCII);

    // Header, HEADER_SIZE bytes at offset 0.
    static final int H_MAGIC = 0;           // 8 bytes, ASCII DCDFIDX2
    static final int H_VERSION = 8;         // u32, 2
    static final int H_FLAGS = 12;          // u32, 0
    static final int H_COUNT = 16;          // u64: records
    static final int H_DISK_SIZE = 24;      // u64: every extent lies inside [0, disk size)
    static final int H_BODY_LENGTH = 32;    // u64: bytes of records after the header
    static final int H_BODY_CRC = 40;       // u32: CRC32C of the records
    static final int H_CRC = 44;            // u32: CRC32C of bytes [0, 44)
    static final int HEADER_SIZE = 48;

    // Record: variable length (docs/file-index-format.md lists every field in order); the first fields:
    static final int R_KIND = 0;            // u8: 0 directory, 1 file, 2 symlink (Kind's ordinal)
    static final int R_PATH_LENGTH = 1;     // u32: p, at most MAX_STRING_BYTES
    static final int R_PATH = 5;            // p bytes, UTF-8
    /** Smallest record: empty path and target, no extents. */
    static final int MIN_RECORD = 1 + 4 + 4 * 3 + 8 + 4 + 8 + 4 + 8 + 4 + 4;
    static final int MAX_STRING_BYTES = 4095;

    /** Format 1 (before the header had a checksum): magic DCDFIDX1, big-endian u64 count, big-endian records. */
    private static final int V1_HEADER = 16;

    /** Loads and checks an index; extents are checked against the disk size its header records. */
    public static FileIndex load(Path file) throws IOException {
        return load(file, -1);
    }

    /**
     * Loads and checks an index of a disk of {@code diskSize} bytes (-1: the size the header records; format 1
     * records none). Both checksums, then every record: known kind, UTF-8 names that are well-formed relative
     * paths, no name twice, every parent a directory, file extents inside the disk and covering the file's size.
     * Anything wrong is one line naming the file.
     */
    public static FileIndex load(Path file, long diskSize) throws IOException {
        byte[] bytes = Checks.readAll(file, "file index");
        try {
            return decode(file, bytes, diskSize);
        } catch (java.nio.BufferUnderflowException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw Checks.damaged(file, "file index", "it is cut short or malformed");
        }
    }

    private static FileIndex decode(Path file, byte[] bytes, long expectedSize) throws IOException {
        if (bytes.length < 8) {
            throw Checks.damaged(file, "file index", "it holds " + bytes.length + " bytes, too few for a header");
        }
        byte[] magic = Arrays.copyOf(bytes, 8);
        ByteBuffer b;
        long count;
        long diskSize;
        if (Arrays.equals(magic, MAGIC_V1)) {
            b = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN);
            if (bytes.length < V1_HEADER) {
                throw Checks.damaged(file, "file index", "it holds " + bytes.length + " bytes, too few for a header");
            }
            count = b.getLong(8);
            diskSize = expectedSize < 0 ? Long.MAX_VALUE : expectedSize;
            b.position(V1_HEADER);
        } else if (Arrays.equals(magic, MAGIC)) {
            b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.length < HEADER_SIZE) {
                throw Checks.damaged(file, "file index", "it holds " + bytes.length + " bytes, too few for a header");
            }
            if (b.getInt(H_CRC) != Checks.crc32c(bytes, 0, H_CRC)) {
                throw Checks.damaged(file, "file index", "its header checksum does not match");
            }
            if (b.getInt(H_VERSION) != VERSION || b.getInt(H_FLAGS) != 0) {
                throw Checks.damaged(file, "file index", "it has format version " + b.getInt(H_VERSION) + " flags "
                        + b.getInt(H_FLAGS) + "; this dcd reads version " + VERSION + " (and 1)");
            }
            count = b.getLong(H_COUNT);
            diskSize = b.getLong(H_DISK_SIZE);
            long bodyLength = b.getLong(H_BODY_LENGTH);
            if (bodyLength != bytes.length - HEADER_SIZE) {
                throw Checks.damaged(file, "file index", "it holds " + bytes.length + " bytes where its header describes "
                        + (bodyLength < 0 || bodyLength > Long.MAX_VALUE - HEADER_SIZE ? "more" : HEADER_SIZE + bodyLength));
            }
            if (b.getInt(H_BODY_CRC) != Checks.crc32c(bytes, HEADER_SIZE, (int) bodyLength)) {
                throw Checks.damaged(file, "file index", "its body checksum does not match");
            }
            if (diskSize <= 0 || (expectedSize >= 0 && diskSize != expectedSize)) {
                throw Checks.damaged(file, "file index", "it describes a disk of " + diskSize + " bytes"
                        + (expectedSize >= 0 ? ", not of " + expectedSize : ""));
            }
            b.position(HEADER_SIZE);
        } else {
            throw Checks.damaged(file, "file index", "it does not start with the magic "
                    + new String(MAGIC, StandardCharsets.US_ASCII));
        }
        if (count < 0 || count > b.remaining() / MIN_RECORD) {
            throw Checks.damaged(file, "file index", "it claims " + Long.toUnsignedString(count) + " records in "
                    + b.remaining() + " bytes");
        }
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        Map<String, Node> byPath = new HashMap<>();
        Map<String, List<String>> children = new HashMap<>();
        for (long i = 0; i < count; i++) {
            Node node = readRecord(file, b, utf8, diskSize, i);
            if (byPath.putIfAbsent(node.path(), node) != null) {
                throw Checks.damaged(file, "file index", "record " + i + " names '" + shorten(node.path())
                        + "' a second time");
            }
            if (!node.path().isEmpty()) {
                children.computeIfAbsent(node.parent(), k -> new ArrayList<>()).add(node.name());
            }
        }
        if (b.hasRemaining()) {
            throw Checks.damaged(file, "file index", b.remaining() + " bytes follow the last of its " + count
                    + " records");
        }
        Node root = byPath.get("");
        if (root == null || root.kind() != Kind.DIRECTORY) {
            throw Checks.damaged(file, "file index", "it has no root directory");
        }
        for (String parent : children.keySet()) {
            Node p = byPath.get(parent);
            if (p == null || p.kind() != Kind.DIRECTORY) {
                throw Checks.damaged(file, "file index", "'" + shorten(parent) + "' holds names but is not a directory"
                        + " in it");
            }
        }
        children.replaceAll((k, v) -> Collections.unmodifiableList(v));
        return new FileIndex(byPath, children);
    }

    private static Node readRecord(Path file, ByteBuffer b, CharsetDecoder utf8, long diskSize, long i)
            throws IOException {
        String record = "record " + i;
        int kindByte = b.get() & 0xff;
        if (kindByte >= KINDS.length) {
            throw Checks.damaged(file, "file index", record + " has unknown kind " + kindByte);
        }
        Kind kind = KINDS[kindByte];
        String path = readString(file, b, utf8, record + "'s name");
        if (!wellFormed(path)) {
            throw Checks.damaged(file, "file index", record + " has the malformed name '" + shorten(path) + "'");
        }
        int mode = b.getInt();
        int uid = b.getInt();
        int gid = b.getInt();
        long mtime = b.getLong();
        int nanos = b.getInt();
        long size = b.getLong();
        int links = b.getInt();
        long fileId = b.getLong();
        String target = readString(file, b, utf8, record + "'s link target");
        long extentCount = Integer.toUnsignedLong(b.getInt());
        String what = record + " ('" + shorten(path) + "')";
        if ((mode & ~07777) != 0 || nanos < 0 || nanos >= 1_000_000_000 || size < 0 || size > diskSize) {
            throw Checks.damaged(file, "file index", what + " has impossible attributes (mode " + Integer.toOctalString(mode)
                    + ", size " + size + ", mtime nanoseconds " + nanos + ")");
        }
        if (kind != Kind.FILE && extentCount != 0 || kind != Kind.SYMLINK && !target.isEmpty()) {
            throw Checks.damaged(file, "file index", what + " is a " + kind.name().toLowerCase(java.util.Locale.ROOT)
                    + " with extents or a link target");
        }
        if (extentCount > b.remaining() / 16) {
            throw Checks.damaged(file, "file index", what + " claims " + extentCount + " extents in " + b.remaining()
                    + " bytes");
        }
        long[] extents = new long[(int) extentCount * 2];
        long covered = 0;
        for (int e = 0; e < extents.length; e += 2) {
            long offset = b.getLong();
            long length = b.getLong();
            if (offset < 0 || length <= 0 || length > diskSize || offset > diskSize - length) {
                throw Checks.damaged(file, "file index", what + " has extent " + offset + " (+" + length
                        + ") outside the disk of " + diskSize + " bytes");
            }
            extents[e] = offset;
            extents[e + 1] = length;
            covered += length;
        }
        if (kind == Kind.FILE && covered < size) {
            throw Checks.damaged(file, "file index", what + " is " + size + " bytes long but its extents hold "
                    + covered);
        }
        return new Node(path, kind, mode, uid, gid, mtime, nanos, size, links, fileId, target, extents);
    }

    private static String readString(Path file, ByteBuffer b, CharsetDecoder utf8, String what) throws IOException {
        int length = b.getInt();
        if (length < 0 || length > MAX_STRING_BYTES || length > b.remaining()) {
            throw Checks.damaged(file, "file index", what + " claims " + Integer.toUnsignedString(length) + " bytes");
        }
        ByteBuffer bytes = b.slice(b.position(), length);
        b.position(b.position() + length);
        try {
            return utf8.reset().decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw Checks.damaged(file, "file index", what + " is not valid UTF-8");
        }
    }

    /** "" (the root) or relative, '/'-separated, without empty, "." or ".." components or NUL. */
    private static boolean wellFormed(String path) {
        if (path.isEmpty()) {
            return true;
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..") || part.indexOf('\0') >= 0) {
                return false;
            }
        }
        return true;
    }

    private static String shorten(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }

    private static final Kind[] KINDS = Kind.values();

    /**
     * Streams nodes to disk as the synthesizer lays them out; memory stays flat however many files there are.
     * Records are encoded into one reusable buffer and written in large chunks straight to the final file, their
     * CRC32C taken on the way. The header, which needs the count and that CRC, is written last over a zeroed
     * placeholder, so a file left by a crash is never mistaken for a (short) index.
     */
    public static final class Writer implements Closeable {
        private static final int CHUNK = 1 << 16;

        private final FileChannel channel;
        private final long diskSize;
        private final CRC32C bodyCrc = new CRC32C();
        private long bodyLength;
        private byte[] buf = new byte[CHUNK];
        private int used;
        private long count;
        private boolean closed;

        /** An index of a disk of {@code diskSize} bytes: every extent added must lie inside it. */
        public Writer(Path file, long diskSize) throws IOException {
            this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            this.diskSize = diskSize;
            channel.write(ByteBuffer.allocate(HEADER_SIZE));   // zeros until close()
        }

        public void add(Node node) throws IOException {
            byte[] path = node.path().getBytes(StandardCharsets.UTF_8);
            byte[] target = node.target().isEmpty() ? EMPTY : node.target().getBytes(StandardCharsets.UTF_8);
            long[] extents = node.extents();
            int need = 1 + 4 + path.length + 4 * 3 + 8 + 4 + 8 + 4 + 8 + 4 + target.length + 4 + 8 * extents.length;
            if (used + need > buf.length) {
                drain();
                if (need > buf.length) {
                    buf = new byte[need];
                }
            }
            buf[used++] = (byte) node.kind().ordinal();
            putBytes(path);
            putInt(node.mode());
            putInt(node.uid());
            putInt(node.gid());
            putLong(node.mtimeSeconds());
            putInt(node.mtimeNanos());
            putLong(node.size());
            putInt(node.linkCount());
            putLong(node.fileId());
            putBytes(target);
            putInt(node.extentCount());
            for (long v : extents) {
                putLong(v);
            }
            count++;
        }

        private void putBytes(byte[] b) {
            putInt(b.length);
            System.arraycopy(b, 0, buf, used, b.length);
            used += b.length;
        }

        private void putInt(int v) {
            INT_LE.set(buf, used, v);
            used += 4;
        }

        private void putLong(long v) {
            LONG_LE.set(buf, used, v);
            used += 8;
        }

        private void drain() throws IOException {
            bodyCrc.update(buf, 0, used);
            bodyLength += used;
            ByteBuffer b = ByteBuffer.wrap(buf, 0, used);
            while (b.hasRemaining()) {
                channel.write(b);
            }
            used = 0;
        }

        /** Writes the rest of the body, then the header with count and checksums, and syncs the file (data and size). */
        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            try (channel) {
                drain();
                ByteBuffer header = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
                header.put(H_MAGIC, MAGIC).putInt(H_VERSION, VERSION).putInt(H_FLAGS, 0).putLong(H_COUNT, count)
                        .putLong(H_DISK_SIZE, diskSize).putLong(H_BODY_LENGTH, bodyLength)
                        .putInt(H_BODY_CRC, (int) bodyCrc.getValue())
                        .putInt(H_CRC, Checks.crc32c(header.array(), 0, H_CRC));
                long at = 0;
                while (header.hasRemaining()) {
                    at += channel.write(header, at);
                }
                channel.force(false);
            }
        }
    }

    private static final byte[] EMPTY = new byte[0];
    private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
}
