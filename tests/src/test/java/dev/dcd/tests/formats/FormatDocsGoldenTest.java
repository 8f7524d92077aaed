package dev.dcd.tests.formats;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.Progress;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.filter.VdiskLabel;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.LongPredicate;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Golden bytes: every on-disk format of docs/ is pinned to its document. Each test builds a small real instance
 * with the production code, reads the layout tables out of the Markdown, and checks that the named constants
 * equal the documented offsets, that the rows tile the structure, and that the bytes at every documented offset
 * are the documented value. Changing a format without its document (or the reverse) fails here.
 */
class FormatDocsGoldenTest {
    private static final int FILE_BYTES = 100_000;
    private static final long DATA_LENGTH = VdiskFormat.alignUp(FILE_BYTES);

    @TempDir
    static Path temp;
    static SealedVdisk vdisk;
    static byte[] vdiskBytes;

    @BeforeAll
    static void writeVdisk() throws Exception {
        byte[] content = new byte[FILE_BYTES];
        new Random(5).nextBytes(content);
        try (VdiskWriter w = VdiskWriter.create(temp.resolve("golden.vdisk"), "golden", "1.0", 1L << 30)) {
            w.directory("d", 0755, 0, 0, 1_700_000_000L, 0);
            w.file("d/a.bin", 0644, 0, 0, 1_700_000_000L, 0, new ByteArrayInputStream(content), content.length);
            vdisk = w.finish();
        }
        vdiskBytes = Files.readAllBytes(vdisk.file());
    }

    private static Class<?> type(String name) throws ClassNotFoundException {
        return Class.forName(name);
    }

    private static long manifestOffset() {
        return VdiskFormat.HEADER_SIZE + DATA_LENGTH;
    }

    private static byte[] manifestBytes() {
        return Arrays.copyOfRange(vdiskBytes, (int) manifestOffset(), vdiskBytes.length);
    }

    @Test
    void appVdiskHeaderMatchesDocsAppVdiskFormat() throws Exception {
        byte[] manifest = manifestBytes();
        DocTable.read("app-vdisk-format.md", "## Header").constantsOf(VdiskFormat.class)
                .contiguous(VdiskFormat.HEADER_SIZE)
                .matches(vdiskBytes, 0, Map.of(
                        "H_DATA_LENGTH", DATA_LENGTH,
                        "H_MANIFEST_OFFSET", manifestOffset(),
                        "H_MANIFEST_LENGTH", (long) manifest.length,
                        "H_CONTENT_ID", MessageDigest.getInstance("SHA-256").digest(manifest)), Map.of());
        assertArrayEquals(vdisk.id().bytes(), MessageDigest.getInstance("SHA-256").digest(manifest));
    }

    @Test
    void appVdiskManifestHeadMatchesDocsAppVdiskFormat() throws Exception {
        byte[] name = "golden".getBytes(StandardCharsets.UTF_8);
        byte[] nameField = ByteBuffer.allocate(2 + name.length).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) name.length).put(name).array();
        DocTable.read("app-vdisk-format.md", "## Manifest").constantsOf(type("dev.dcd.vdisk.Manifest"))
                .contiguous(-1)
                .matches(manifestBytes(), 0, Map.of(
                        "M_ENTRY_COUNT", (long) vdisk.manifest().entries().size(),
                        "M_CHUNK_COUNT", (DATA_LENGTH + VdiskFormat.CHECKSUM_CHUNK - 1) / VdiskFormat.CHECKSUM_CHUNK,
                        "M_DATA_LENGTH", DATA_LENGTH,
                        "M_NAME", nameField), Map.of("n", (long) name.length));
    }

    @Test
    void regionMapMatchesDocsRegionMapFormat() throws Exception {
        ContentId a = new ContentId("aa".repeat(32));
        ContentId b = new ContentId("bb".repeat(32));
        RegionMap map = new RegionMapBuilder(1 << 24, List.of(a, b)).metadata(0, 1 << 20)
                .appData(2 << 20, 8192, 1, 4096).build();
        assertEquals(4, map.regionCount(), "metadata, zero, app data, zero");
        Path file = temp.resolve("regions.bin");
        map.save(file);
        byte[] bytes = Files.readAllBytes(file);
        Class<?> owner = RegionMap.class;
        DocTable.read("region-map-format.md", "## Header").constantsOf(owner).contiguous(48)
                .matches(bytes, 0, Map.of(
                        "H_DISK_SIZE", 1L << 24,
                        "H_VDISK_COUNT", 2L,
                        "H_REGION_COUNT", 4L,
                        "H_BODY_LENGTH", 32L * 2 + 32L * 4), Map.of());
        assertArrayEquals(b.bytes(), Arrays.copyOfRange(bytes, 48 + 32, 48 + 64), "vdisk table, record 1");

        DocTable records = DocTable.read("region-map-format.md", "## Region record").constantsOf(owner).contiguous(32);
        assertEquals("0 metadata, 1 app data, 2 zero", records.row("R_KIND").value());
        assertEquals(List.of(RegionMap.Kind.METADATA, RegionMap.Kind.APP_DATA, RegionMap.Kind.ZERO),
                List.of(RegionMap.Kind.values()));
        int first = 48 + 64;
        records.matches(bytes, first + 32, Map.of(   // region 1: zero
                "R_START", 1L << 20, "R_LENGTH", 1L << 20, "R_KIND", 2L, "R_VDISK", 0xFFFFFFFFL,
                "R_VDISK_OFFSET", 0L), Map.of());
        records.matches(bytes, first + 64, Map.of(   // region 2: app data
                "R_START", 2L << 20, "R_LENGTH", 8192L, "R_KIND", 1L, "R_VDISK", 1L, "R_VDISK_OFFSET", 4096L), Map.of());
        assertEquals(RegionMap.load(file).regions(), map.regions());
    }

    @Test
    void fileIndexMatchesDocsFileIndexFormat() throws Exception {
        Path file = temp.resolve("files.idx");
        try (FileIndex.Writer w = new FileIndex.Writer(file, 1 << 24)) {
            w.add(new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 1_700_000_000L, 0, 4096, 3, 2, "", new long[0]));
            w.add(new FileIndex.Node("bin", FileIndex.Kind.DIRECTORY, 0750, 7, 8, 1_700_000_001L, 5, 4096, 2, 11, "", new long[0]));
            w.add(new FileIndex.Node("bin/tool", FileIndex.Kind.FILE, 04755, 1000, 100, -3L, 999_999_999, 10_000, 1, 12, "",
                    new long[] {1 << 20, 8192, 3 << 20, 4096}));
            w.add(new FileIndex.Node("ln", FileIndex.Kind.SYMLINK, 0777, 0, 0, 1L, 0, 8, 1, 13, "bin/tool", new long[0]));
        }
        byte[] bytes = Files.readAllBytes(file);
        DocTable.read("file-index-format.md", "## Header").constantsOf(FileIndex.class).contiguous(48)
                .matches(bytes, 0, Map.of(
                        "H_COUNT", 4L,
                        "H_DISK_SIZE", 1L << 24,
                        "H_BODY_LENGTH", (long) bytes.length - 48), Map.of());
        DocTable record = DocTable.read("file-index-format.md", "## Record").constantsOf(FileIndex.class).contiguous(-1);
        int root = 48;
        int bin = root + 57;
        int tool = bin + 57 + 3;
        int ln = tool + 57 + 8 + 32;
        assertEquals(bytes.length, ln + 57 + 2 + 8, "four records, nothing else");
        ByteBuffer extents = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(1 << 20).putLong(8192).putLong(3 << 20).putLong(4096);
        record.matches(bytes, tool, fields(1, "bin/tool", 04755, 1000, 100, -3L, 999_999_999, 10_000, 1, 12, "",
                2, extents.array()), Map.of("p", 8L, "t", 0L, "E", 2L));
        record.matches(bytes, ln, fields(2, "ln", 0777, 0, 0, 1L, 0, 8, 1, 13, "bin/tool", 0, new byte[0]),
                Map.of("p", 2L, "t", 8L, "E", 0L));
        record.matches(bytes, root, fields(0, "", 0755, 0, 0, 1_700_000_000L, 0, 4096, 3, 2, "", 0, new byte[0]),
                Map.of("p", 0L, "t", 0L, "E", 0L));
        assertEquals(List.of(FileIndex.Kind.DIRECTORY, FileIndex.Kind.FILE, FileIndex.Kind.SYMLINK),
                List.of(FileIndex.Kind.values()), "kind numbers as documented: 0 directory, 1 regular file, 2 symlink");
        assertEquals(4, FileIndex.load(file, 1 << 24).size());
    }

    private static Map<String, Object> fields(long kind, String path, long mode, long uid, long gid, long mtime, long nanos,
                                              long size, long links, long fileId, String target, long extentCount,
                                              byte[] extents) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        byte[] t = target.getBytes(StandardCharsets.UTF_8);
        Map<String, Object> m = new HashMap<>();
        m.put("R_KIND", kind);
        m.put("R_PATH_LENGTH", (long) p.length);
        m.put("R_PATH", p);
        m.put("mode", mode);
        m.put("uid", uid);
        m.put("gid", gid);
        m.put("mtime", mtime);
        m.put("mtime nanoseconds", nanos);
        m.put("size", size);
        m.put("link count", links);
        m.put("file id", fileId);
        m.put("target length", (long) t.length);
        m.put("target", t);
        m.put("extent count", extentCount);
        m.put("extents", extents);
        return m;
    }

    /** A generation of {@code size} bytes of zeros (its meta.img is sparse), or mapping the golden vdisk's file. */
    private static Path generation(String name, long size, List<ContentId> vdisks, boolean mapFile) throws Exception {
        Path dir = Files.createDirectories(temp.resolve(name));
        try (RandomAccessFile meta = new RandomAccessFile(dir.resolve(DynamicContentDisk.META_IMAGE).toFile(), "rw")) {
            meta.setLength(size);
        }
        RegionMapBuilder builder = new RegionMapBuilder(size, vdisks);
        if (mapFile) {
            builder.appData(1 << 20, DATA_LENGTH, 0, VdiskFormat.HEADER_SIZE);
        }
        builder.build().save(dir.resolve(DynamicContentDisk.REGION_MAP));
        return dir;
    }

    @Test
    void overlayJournalMatchesDocsOverlayFormat() throws Exception {
        long size = 1 << 20;
        Path dir = generation("gen-overlay", size, List.of(), false);
        try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir)
                .resolver(id -> { throw new AssertionError("no vdisk"); }).build()) {
            disk.write(2 * 4096, ByteBuffer.allocate(4096));
            disk.flush();
            disk.write(16 * 4096, ByteBuffer.allocate(3 * 4096));
            disk.flush();
        }
        byte[] bytes = Files.readAllBytes(dir.resolve("overlay.map"));
        Class<?> owner = type("dev.dcd.filter.OverlayJournal");
        DocTable.read("overlay-format.md", "### Header").constantsOf(owner).contiguous(32)
                .matches(bytes, 0, Map.of("H_DISK_SIZE", size), Map.of());
        DocTable records = DocTable.read("overlay-format.md", "### Records").constantsOf(owner).contiguous(24);
        assertEquals(32 + 2 * 24, bytes.length, "two flushed writes, two records");
        records.matches(bytes, 32, Map.of("R_TYPE", 1L, "R_COUNT", 1L, "R_FIRST", 2L), Map.of());
        records.matches(bytes, 56, Map.of("R_TYPE", 1L, "R_COUNT", 3L, "R_FIRST", 16L), Map.of());
    }

    @Test
    void chunkCacheMatchesDocsCacheFormat() throws Exception {
        Path store = Files.createDirectories(temp.resolve("store"));
        Backend backend = Backends.open("remote", URI.create("local://" + store));
        try (InputStream in = Files.newInputStream(vdisk.file())) {
            backend.put(vdisk.id(), in, vdisk.length(), Progress.NONE);
        }
        Path dir = generation("gen-cache", 4 << 20, List.of(vdisk.id()), true);
        Path cacheDir = temp.resolve("cache");
        long slots = 64;
        try (BlockCache cache = BlockCache.open(cacheDir, slots * VdiskFormat.CHECKSUM_CHUNK)) {
            try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(backend::open)
                    .labels(Map.of(vdisk.id(), new VdiskLabel("golden@1.0", "remote")))
                    .cache(cache, Set.of("remote")).readahead(ReadaheadConfig.DEFAULT, Set.of()).build()) {
                disk.read(1 << 20, ByteBuffer.allocate((int) DATA_LENGTH));
            }
        }
        byte[] index = Files.readAllBytes(cacheDir.resolve("chunks.idx"));
        Class<?> owner = BlockCache.class;
        DocTable.read("cache-format.md", "### chunks.idx header").constantsOf(owner).contiguous(64)
                .matches(index, 0, Map.of("H_SLOTS", slots), Map.of());
        DocTable records = DocTable.read("cache-format.md", "### chunks.idx record").constantsOf(owner).contiguous(64);
        ByteBuffer b = ByteBuffer.wrap(index).order(ByteOrder.LITTLE_ENDIAN);
        long[] lengths = {VdiskFormat.CHECKSUM_CHUNK, DATA_LENGTH - VdiskFormat.CHECKSUM_CHUNK};
        LongPredicate sequence = v -> v >= 0;
        for (int chunk = 0; chunk < 2; chunk++) {
            int at = -1;
            for (int slot = 0; slot < slots; slot++) {
                int rec = 64 + slot * 64;
                if (rec + 64 <= index.length && b.getInt(rec + 48) == 1 && b.getInt(rec + 32) == chunk) {
                    at = rec;
                }
            }
            assertTrue(at > 0, "a record for chunk " + chunk);
            records.matches(index, at, Map.of("R_CONTENT_ID", vdisk.id().bytes(), "R_CHUNK", (long) chunk,
                    "R_LENGTH", lengths[chunk], "R_SEQUENCE", sequence, "R_FLAGS", 1L), Map.of());
        }
        byte[] manifest = Files.readAllBytes(cacheDir.resolve("manifests").resolve(vdisk.id().hex() + ".manifest"));
        DocTable.read("cache-format.md", "### manifests/").constantsOf(owner).contiguous(-1)
                .matches(manifest, 0, Map.of("M_LENGTH", vdisk.length(), "M_MANIFEST", manifestBytes()), Map.of());
    }

    @Test
    void prefetchListMatchesDocsPrefetch() throws Exception {
        int[] chunks = {12, 13, 14, 3, 0, 70_000};
        byte[] bytes = new dev.dcd.vdisk.PrefetchList(vdisk.id(), 30, chunks).encode();
        Class<?> owner = type("dev.dcd.vdisk.PrefetchList");
        DocTable.read("prefetch.md", "### Header").constantsOf(owner).contiguous(64)
                .matches(bytes, 0, Map.of(
                        "P_CONTENT_ID", vdisk.id().bytes(),
                        "P_COUNT", (long) chunks.length,
                        "P_WINDOW_SECONDS", 30L), Map.of());
        DocTable entries = DocTable.read("prefetch.md", "### Entry").constantsOf(owner).contiguous(4);
        assertEquals(64 + 4 * chunks.length, bytes.length);
        for (int i = 0; i < chunks.length; i++) {
            entries.matches(bytes, 64 + 4 * i, Map.of("E_CHUNK", (long) chunks[i]), Map.of());
        }
        assertArrayEquals(chunks, dev.dcd.vdisk.PrefetchList.decode(bytes, vdisk.id(), 70_001, "golden").chunks());
    }
}
