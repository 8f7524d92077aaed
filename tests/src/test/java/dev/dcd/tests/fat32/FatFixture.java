package dev.dcd.tests.fat32;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.EntryType;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds test apps with {@link VdiskWriter}, stores them in a local backend, synthesizes a FAT32 disk,
 * exports it with {@link DiskMaterializer} and runs the real FAT tools on the result.
 */
final class FatFixture {
    static final long MIB = 1L << 20;
    private final Path root;
    private final Backend backend;
    private final List<AppLayer> layers = new ArrayList<>();
    /** Expected content of every file name on the disk: path -> sha256 hex. */
    final Map<String, String> expected = new TreeMap<>();
    private int vdisks;

    FatFixture(Path root) throws IOException {
        this.root = root;
        Path store = Files.createDirectories(root.resolve("store"));
        this.backend = Backends.open("t", URI.create("local://" + store.toAbsolutePath()));
    }

    interface Body {
        void fill(App app) throws IOException;
    }

    /** One app under construction; records what each file name should read back as. */
    final class App {
        final VdiskWriter writer;
        final Map<String, byte[]> files = new TreeMap<>();

        App(VdiskWriter writer) {
            this.writer = writer;
        }

        App dir(String path) throws IOException {
            writer.directory(path, 0755, 0, 0, 1_700_000_000L, 0);
            return this;
        }

        App file(String path, byte[] content) throws IOException {
            return file(path, content, 0644);
        }

        App file(String path, byte[] content, int mode) throws IOException {
            writer.file(path, mode, 0, 0, 1_700_000_001L, 500_000_000, new ByteArrayInputStream(content), content.length);
            files.put(path, content);
            expected.put(path, sha256(content));
            return this;
        }

        App file(String path, String content) throws IOException {
            return file(path, content.getBytes(StandardCharsets.UTF_8));
        }

        /** A large file streamed from a generator, so tests need not hold it in memory. */
        App bigFile(String path, long size, long seed) throws IOException {
            writer.file(path, 0644, 0, 0, 1_700_000_002L, 0, new PatternStream(size, seed), size);
            expected.put(path, sha256(new PatternStream(size, seed)));
            return this;
        }

        App symlink(String path, String target) throws IOException {
            writer.symlink(path, target, 0, 0, 1_700_000_003L, 0);
            return this;
        }

        App hardlink(String path, String target) throws IOException {
            writer.hardlink(path, target);
            expected.put(path, expected.get(target));
            return this;
        }
    }

    AppLayer app(String name, String version, Body body) throws IOException {
        return app(name, version, 0, body);
    }

    AppLayer app(String name, String version, int priority, Body body) throws IOException {
        Path file = root.resolve("app" + (vdisks++) + ".vdisk");
        App app;
        SealedVdisk sealed;
        try (VdiskWriter writer = VdiskWriter.create(file, name, version, 64L << 30)) {
            app = new App(writer);
            body.fill(app);
            sealed = writer.finish();
        }
        try (InputStream in = Files.newInputStream(sealed.file())) {
            backend.put(sealed.id(), in, sealed.length(), Progress.NONE);
        }
        Files.delete(sealed.file());
        AppLayer layer = new AppLayer(name, version, sealed.id(), sealed.manifest(), priority);
        layers.add(layer);
        return layer;
    }

    /**
     * An app known only by its manifest, holding files of {@code size} bytes each: for rules the synthesizer
     * must enforce before it touches any data (a 4 GiB file need not be written to be refused).
     */
    AppLayer manifestOnly(String name, String version, long size, String... paths) {
        java.util.Map<String, Entry> entries = new TreeMap<>();
        entries.put("", new Entry("", EntryType.DIRECTORY, 0755, 0, 0, 1_700_000_000L, 0, 0, 0, Entry.NO_HASH, ""));
        for (String path : paths) {
            String dir = path.substring(0, path.lastIndexOf('/'));
            entries.put(dir, new Entry(dir, EntryType.DIRECTORY, 0755, 0, 0, 1_700_000_000L, 0, 0, 0, Entry.NO_HASH, ""));
            entries.put(path, new Entry(path, EntryType.FILE, 0644, 0, 0, 1_700_000_000L, 0, size, size == 0 ? 0 : 4096,
                    new byte[32], ""));
        }
        Manifest manifest = new Manifest(name, version, new ArrayList<>(entries.values()), 4096, size, new int[0]);
        byte[] id = new byte[32];
        id[0] = (byte) layers.size();
        AppLayer layer = new AppLayer(name, version, ContentId.of(id), manifest, 0);
        layers.add(layer);
        return layer;
    }

    static DiskSpec.Builder spec(long diskSize) {
        return DiskSpec.builder().vmId("vm-fat").fsType(FsType.FAT32).diskSize(diskSize)
                .createdEpochSeconds(1_700_000_000L);
    }

    SynthesizedDisk synthesize(DiskSpec spec, Path dir) throws IOException {
        return Synthesizers.forType(FsType.FAT32).synthesize(spec, layers, dir, Progress.NONE);
    }

    /** The full raw disk, file data copied in from the backend. */
    Path materialize(SynthesizedDisk disk, Path out) throws IOException {
        DiskMaterializer.materialize(disk.regionMap(), disk.image(), backend::open, out, Progress.NONE);
        return out;
    }

    /** Copies the partition out of a raw disk (sparse), for the tools that want a bare filesystem. */
    static Path partition(SynthesizedDisk disk, Path raw, Path out) throws IOException {
        Tool.run(List.of("dd", "if=" + raw, "of=" + out, "bs=1M", "skip=" + disk.partitionOffset() / MIB,
                "count=" + disk.partitionLength() / MIB, "conv=sparse", "status=none")).check();
        return out;
    }

    /** Copies the whole volume out with {@code mcopy -s}; returns relative path -> sha256 of every file. */
    static Map<String, String> copyOut(String image, Path out) throws IOException {
        Files.createDirectories(out);
        Tool.run(List.of("mcopy", "-s", "-n", "-i", image, "::/", out.toString()), Map.of("MTOOLS_SKIP_CHECK", "1"))
                .check();
        Map<String, String> seen = new TreeMap<>();
        try (var files = Files.walk(out)) {
            for (Path p : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                seen.put(out.relativize(p).toString(), sha256(p));
            }
        }
        return seen;
    }

    static String sha256(byte[] bytes) {
        return dev.dcd.testing.Hashes.sha256(bytes);
    }

    /** Reads {@code in} to its end and closes it. */
    static String sha256(InputStream in) throws IOException {
        try (in) {
            return dev.dcd.testing.Hashes.sha256(in);
        }
    }

    static String sha256(Path file) {
        return dev.dcd.testing.Hashes.sha256(file);
    }

    /** Deterministic pseudo-random bytes (xorshift), so large files need no storage in the test. */
    static final class PatternStream extends InputStream {
        private long remaining;
        private long state;

        PatternStream(long size, long seed) {
            this.remaining = size;
            this.state = seed * 0x9E3779B97F4A7C15L + 1;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (remaining == 0) {
                return -1;
            }
            int n = (int) Math.min(len, remaining);
            for (int i = 0; i < n; i++) {
                state ^= state << 13;
                state ^= state >>> 7;
                state ^= state << 17;
                b[off + i] = (byte) state;
            }
            remaining -= n;
            return n;
        }
    }

    /** A finished external command. */
    record Tool(int exit, String output) {
        static Tool run(List<String> command) throws IOException {
            return run(command, Map.of());
        }

        static Tool run(List<String> command, Map<String, String> env) {
            dev.dcd.testing.ProcessRunner.Result r = dev.dcd.testing.ProcessRunner.command(command).env(env).mergeErr()
                    .timeout(java.time.Duration.ofMinutes(10)).run();
            return new Tool(r.code(), r.out());
        }

        Tool check() throws IOException {
            if (exit != 0) {
                throw new IOException("command failed with exit " + exit + ": " + output);
            }
            return this;
        }
    }
}
