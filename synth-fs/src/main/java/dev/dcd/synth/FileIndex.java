package dev.dcd.synth;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Every name on a synthesized disk with its attributes and, for regular files, where its bytes lie on the
 * disk (absolute disk offsets, not partition offsets). Written by the synthesizer as
 * {@value #FILE_NAME}; the FUSE {@code files/} view reads through the disk at these extents, so there is
 * one data path.
 */
public final class FileIndex {
    public static final String FILE_NAME = "files.idx";
    static final byte[] MAGIC = "DCDFIDX1".getBytes(StandardCharsets.US_ASCII);

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

    public static FileIndex load(Path file) throws IOException {
        Map<String, Node> byPath = new HashMap<>();
        Map<String, List<String>> children = new HashMap<>();
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            byte[] magic = new byte[MAGIC.length];
            in.readFully(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new IOException(file + " is not a file index");
            }
            long count = in.readLong();
            for (long i = 0; i < count; i++) {
                Kind kind = Kind.values()[in.readUnsignedByte()];
                String path = readString(in);
                int mode = in.readInt();
                int uid = in.readInt();
                int gid = in.readInt();
                long mtime = in.readLong();
                int nanos = in.readInt();
                long size = in.readLong();
                int links = in.readInt();
                long fileId = in.readLong();
                String target = readString(in);
                int extentCount = in.readInt();
                long[] extents = new long[extentCount * 2];
                for (int e = 0; e < extents.length; e++) {
                    extents[e] = in.readLong();
                }
                Node node = new Node(path, kind, mode, uid, gid, mtime, nanos, size, links, fileId, target, extents);
                byPath.put(path, node);
                if (!path.isEmpty()) {
                    children.computeIfAbsent(node.parent(), k -> new ArrayList<>()).add(node.name());
                }
            }
        } catch (EOFException e) {
            throw new IOException(file + " is truncated", e);
        }
        children.replaceAll((k, v) -> Collections.unmodifiableList(v));
        return new FileIndex(byPath, children);
    }

    private static String readString(DataInputStream in) throws IOException {
        byte[] bytes = new byte[in.readInt()];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * Streams nodes to disk as the synthesizer lays them out; memory stays flat however many files there are.
     * Records are encoded into one reusable buffer (big-endian, as {@link DataInputStream} reads them) and
     * written in large chunks straight to the final file. The header, which needs the count, is written
     * last over a zeroed placeholder, so a file left by a crash is never mistaken for a (short) index.
     */
    public static final class Writer implements Closeable {
        private static final int HEADER = MAGIC.length + Long.BYTES;
        private static final int CHUNK = 1 << 16;

        private final FileChannel channel;
        private byte[] buf = new byte[CHUNK];
        private int used;
        private long count;
        private boolean closed;

        public Writer(Path file) throws IOException {
            this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            used = HEADER;   // zeros until close()
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
            INT_BE.set(buf, used, v);
            used += 4;
        }

        private void putLong(long v) {
            LONG_BE.set(buf, used, v);
            used += 8;
        }

        private void drain() throws IOException {
            ByteBuffer b = ByteBuffer.wrap(buf, 0, used);
            while (b.hasRemaining()) {
                channel.write(b);
            }
            used = 0;
        }

        /** Writes the rest of the body, then the header with the count, and syncs the file (data and size). */
        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            try (channel) {
                drain();
                ByteBuffer header = ByteBuffer.allocate(HEADER);
                header.put(MAGIC).putLong(count).flip();
                long at = 0;
                while (header.hasRemaining()) {
                    at += channel.write(header, at);
                }
                channel.force(false);
            }
        }
    }

    private static final byte[] EMPTY = new byte[0];
    private static final VarHandle INT_BE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle LONG_BE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);
}
