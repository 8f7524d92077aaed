package dev.dcd.vdisk;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The manifest: which app this is, every entry sorted by path, and the data checksums.
 * Its encoding is canonical (sorted, fixed widths), so the same content always hashes to the same id.
 */
public final class Manifest {
    // Manifest field offsets (after these come the entries, then the checksums).
    static final int M_MAGIC = 0;            // 8 bytes
    static final int M_ENTRY_COUNT = 8;      // u32
    static final int M_CHUNK_COUNT = 12;     // u32
    static final int M_DATA_OFFSET = 16;     // u64
    static final int M_DATA_LENGTH = 24;     // u64
    static final int M_NAME = 32;            // u16 length + UTF-8 app name, then u16 length + UTF-8 version

    private final String appName;
    private final String appVersion;
    private final List<Entry> entries;
    private final Map<String, Entry> byPath;
    private final long dataOffset;
    private final long dataLength;
    private final int[] chunkCrcs;

    public Manifest(String appName, String appVersion, List<Entry> entries, long dataOffset, long dataLength, int[] chunkCrcs) {
        this.appName = appName;
        this.appVersion = appVersion;
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort((a, b) -> a.path().compareTo(b.path()));
        this.entries = Collections.unmodifiableList(sorted);
        Map<String, Entry> index = new TreeMap<>();
        for (Entry e : sorted) {
            index.put(e.path(), e);
        }
        this.byPath = Collections.unmodifiableMap(index);
        this.dataOffset = dataOffset;
        this.dataLength = dataLength;
        this.chunkCrcs = chunkCrcs.clone();
    }

    public String appName() {
        return appName;
    }

    public String appVersion() {
        return appVersion;
    }

    /** Sorted by path; includes the root directory "" when the archive described it. */
    public List<Entry> entries() {
        return entries;
    }

    public Entry entry(String path) {
        return byPath.get(path);
    }

    public long dataOffset() {
        return dataOffset;
    }

    public long dataLength() {
        return dataLength;
    }

    public ChunkChecksums checksums() {
        return new ChunkChecksums(dataOffset, dataLength, chunkCrcs);
    }

    public long fileCount() {
        return entries.stream().filter(e -> e.isFile() || e.isHardlink()).count();
    }

    /** Bytes of file content as the guest sees it (hardlinks count once, duplicates count each time). */
    public long contentBytes() {
        return entries.stream().filter(Entry::isFile).mapToLong(Entry::size).sum();
    }

    public byte[] encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 + entries.size() * 128 + chunkCrcs.length * 4);
        ByteBuffer head = le(M_NAME);
        head.put(VdiskFormat.MANIFEST_MAGIC);
        head.putInt(entries.size());
        head.putInt(chunkCrcs.length);
        head.putLong(dataOffset);
        head.putLong(dataLength);
        out.writeBytes(head.array());
        writeString(out, appName);
        writeString(out, appVersion);
        for (Entry e : entries) {
            ByteBuffer fixed = le(4 + 4 + 4 + 4 + 8 + 4 + 8 + 8 + 32);
            fixed.put((byte) e.type().code());
            fixed.put((byte) 0);
            byte[] path = e.path().getBytes(StandardCharsets.UTF_8);
            fixed.putShort((short) path.length);
            fixed.putInt(e.mode());
            fixed.putInt(e.uid());
            fixed.putInt(e.gid());
            fixed.putLong(e.mtimeSeconds());
            fixed.putInt(e.mtimeNanos());
            fixed.putLong(e.size());
            fixed.putLong(e.dataOffset());
            fixed.put(e.sha256());
            out.write(fixed.array(), 0, 4);
            out.writeBytes(path);
            out.write(fixed.array(), 4, fixed.capacity() - 4);
            writeString(out, e.target());
        }
        ByteBuffer crcs = le(chunkCrcs.length * 4);
        for (int crc : chunkCrcs) {
            crcs.putInt(crc);
        }
        out.writeBytes(crcs.array());
        return out.toByteArray();
    }

    public static Manifest decode(byte[] bytes) throws IOException {
        try {
            ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            byte[] magic = new byte[8];
            in.get(magic);
            if (!java.util.Arrays.equals(magic, VdiskFormat.MANIFEST_MAGIC)) {
                throw new IOException("manifest has a bad magic number");
            }
            int entryCount = in.getInt();
            int chunkCount = in.getInt();
            long dataOffset = in.getLong();
            long dataLength = in.getLong();
            if (entryCount < 0 || chunkCount < 0) {
                throw new IOException("manifest counts are negative");
            }
            String name = readString(in);
            String version = readString(in);
            List<Entry> entries = new ArrayList<>(Math.min(entryCount, 1 << 20));
            for (int i = 0; i < entryCount; i++) {
                EntryType type = EntryType.ofCode(in.get());
                in.get();
                int pathLength = Short.toUnsignedInt(in.getShort());
                String path = utf8(in, pathLength);
                int mode = in.getInt();
                int uid = in.getInt();
                int gid = in.getInt();
                long mtime = in.getLong();
                int nanos = in.getInt();
                long size = in.getLong();
                long offset = in.getLong();
                byte[] sha = new byte[32];
                in.get(sha);
                String target = readString(in);
                entries.add(new Entry(path, type, mode, uid, gid, mtime, nanos, size, offset, sha, target));
            }
            int[] crcs = new int[chunkCount];
            for (int i = 0; i < chunkCount; i++) {
                crcs[i] = in.getInt();
            }
            if (in.hasRemaining()) {
                throw new IOException("manifest has " + in.remaining() + " trailing bytes");
            }
            return new Manifest(name, version, entries, dataOffset, dataLength, crcs);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new IOException("manifest is truncated or corrupt", e);
        }
    }

    public ContentId contentId() {
        return ContentId.of(sha256(encode()));
    }

    static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeString(ByteArrayOutputStream out, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.write(bytes.length & 0xff);
        out.write((bytes.length >>> 8) & 0xff);
        out.writeBytes(bytes);
    }

    private static String readString(ByteBuffer in) throws IOException {
        return utf8(in, Short.toUnsignedInt(in.getShort()));
    }

    private static String utf8(ByteBuffer in, int length) throws IOException {
        byte[] bytes = new byte[length];
        in.get(bytes);
        if (ascii(bytes)) {
            // Most names are ASCII, which is valid UTF-8 as it is: skip the strict decoder's buffers, which
            // were a tenth of opening a 200,000-file manifest.
            return new String(bytes, StandardCharsets.ISO_8859_1);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IOException("manifest has a name that is not UTF-8", e);
        }
    }

    private static boolean ascii(byte[] bytes) {
        for (byte b : bytes) {
            if (b < 0) {
                return false;
            }
        }
        return true;
    }
}
