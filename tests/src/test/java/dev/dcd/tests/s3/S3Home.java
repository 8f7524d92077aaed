package dev.dcd.tests.s3;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.filter.VdiskLabel;
import dev.dcd.shell.Cli;
import dev.dcd.shell.Context;
import dev.dcd.synth.FileIndex;
import dev.dcd.vdisk.ContentId;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A {@code $DCD_HOME} driven through the real command tree in this JVM ({@code Cli.commandLine(new Context(...))}),
 * plus what a mount would do with a VM's current generation: open it as a {@link DynamicContentDisk} whose
 * app vdisks come from the catalog's backends, optionally through a shared {@link BlockCache}.
 */
public final class S3Home implements Closeable {
    /** Fixed clock: the catalog's times and hence every synthesized disk are reproducible. */
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-21T12:00:00Z"), ZoneOffset.UTC);

    private final Path home;
    private final Map<String, Backend> backends = new LinkedHashMap<>();

    public S3Home(Path home) {
        this.home = home;
    }

    public Path home() {
        return home;
    }

    public record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** One command line, as {@code dcd --home HOME ARGS} would run it, with its own context. */
    public Result run(String... args) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintWriter o = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), true);
        PrintWriter e = new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true);
        int code;
        try (Context context = new Context(Map.of("DCD_HOME", home.toString()), o, e, CLOCK, false)) {
            code = Cli.commandLine(context).execute(args);
        }
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A command that must succeed; returns its stdout. */
    public String ok(String... args) throws IOException {
        Result r = run(args);
        if (r.code() != 0) {
            throw new AssertionError("dcd " + String.join(" ", args) + " failed: " + r);
        }
        return r.out();
    }

    public Path currentGeneration(String vm) throws IOException {
        try (Catalog catalog = openCatalog()) {
            Vm v = catalog.requireVm(vm);
            return home.resolve("vms").resolve(vm).resolve("gen-" + v.currentGeneration());
        }
    }

    public FileIndex index(String vm) throws IOException {
        return FileIndex.load(currentGeneration(vm).resolve(FileIndex.FILE_NAME));
    }

    /** The catalog's record of an app version ({@code APP@VER}). */
    public AppVersion app(String spec) throws IOException {
        try (Catalog catalog = openCatalog()) {
            return catalog.resolve(spec);
        }
    }

    /**
     * Opens the VM's current generation as the mount would: app vdisks labelled with app and backend,
     * the backends in {@code cached} read through {@code cache} (may be null), readahead for {@code prefetched}.
     */
    public DynamicContentDisk open(String vm, BlockCache cache, Set<String> cached, ReadaheadConfig readahead,
                                   Set<String> prefetched) throws IOException {
        Map<ContentId, VdiskLabel> labels = new HashMap<>();
        Map<ContentId, String> backendOf = new HashMap<>();
        Path generation;
        try (Catalog catalog = openCatalog()) {
            Vm v = catalog.requireVm(vm);
            generation = home.resolve("vms").resolve(vm).resolve("gen-" + v.currentGeneration());
            for (Vm.Assignment a : v.apps()) {
                AppVersion app = catalog.app(a.app(), a.version()).orElseThrow();
                labels.put(app.id(), new VdiskLabel(app.label(), app.backend()));
                backendOf.put(app.id(), app.backend());
                if (!backends.containsKey(app.backend())) {
                    BackendEntry entry = catalog.requireBackend(app.backend());
                    backends.put(app.backend(), Backends.open(app.backend(), Backends.parse(entry.uri())));
                }
            }
        }
        DynamicContentDisk.Builder builder = DynamicContentDisk.builder()
                .generationDir(generation)
                .vmId(vm)
                .labels(labels)
                .resolver(id -> backends.get(backendOf.get(id)).open(id))
                .readahead(readahead, prefetched);
        if (cache != null) {
            builder.cache(cache, cached);
        }
        return builder.build();
    }

    private Catalog openCatalog() throws IOException {
        return Catalog.open(home.resolve("catalog"), home.resolve("vdisks"), CLOCK);
    }

    /** Reads a regular file through the disk at its index extents, in {@code requestBytes} requests. */
    public static String sha256(DynamicContentDisk disk, FileIndex.Node node, int requestBytes) throws IOException {
        MessageDigest sha = sha();
        ByteBuffer buffer = ByteBuffer.allocateDirect(requestBytes);
        byte[] copy = new byte[requestBytes];
        long left = node.size();
        for (int i = 0; i < node.extentCount() && left > 0; i++) {
            long offset = node.extentOffset(i);
            long extentLeft = Math.min(node.extentLength(i), left);
            while (extentLeft > 0) {
                int n = (int) Math.min(requestBytes, extentLeft);
                buffer.clear().limit(n);
                disk.read(offset, buffer);
                buffer.flip().get(copy, 0, n);
                sha.update(copy, 0, n);
                offset += n;
                extentLeft -= n;
                left -= n;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * Reads a regular file like {@link #sha256(DynamicContentDisk, FileIndex.Node, int)} but checks it with
     * CRC32C (hardware-assisted, so the check costs little next to the reads a benchmark measures).
     */
    public static long crc32c(DynamicContentDisk disk, FileIndex.Node node, int requestBytes) throws IOException {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        ByteBuffer buffer = ByteBuffer.allocateDirect(requestBytes);
        long left = node.size();
        for (int i = 0; i < node.extentCount() && left > 0; i++) {
            long offset = node.extentOffset(i);
            long extentLeft = Math.min(node.extentLength(i), left);
            while (extentLeft > 0) {
                int n = (int) Math.min(requestBytes, extentLeft);
                buffer.clear().limit(n);
                disk.read(offset, buffer);
                crc.update(buffer.flip());
                offset += n;
                extentLeft -= n;
                left -= n;
            }
        }
        return crc.getValue();
    }

    /** Hashes a file; a read error (EIO through a mount, say) is the IOException itself, which tests assert on. */
    public static String sha256(Path file) throws IOException {
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(file)) {
            return dev.dcd.testing.Hashes.sha256(in);
        }
    }

    /**
     * Writes an app's files: each {@code {path, mib}} of {@code files} gets {@code mib} MiB and 333 bytes of
     * {@code new Random(seed)} (so no file ends on a block boundary), in order; returns their SHA-256 by path.
     */
    public static Map<String, String> writeRandomFiles(Path app, long seed, String[][] files) throws IOException {
        Map<String, String> sha256 = new LinkedHashMap<>();
        java.util.Random random = new java.util.Random(seed);
        for (String[] f : files) {
            byte[] bytes = new byte[Integer.parseInt(f[1]) * 1024 * 1024 + 333];
            random.nextBytes(bytes);
            Path file = app.resolve(f[0]);
            java.nio.file.Files.createDirectories(file.getParent());
            java.nio.file.Files.write(file, bytes);
            sha256.put(f[0], sha256(file));
        }
        return sha256;
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every regular file of the index, by path. */
    public static List<FileIndex.Node> files(FileIndex index) {
        List<FileIndex.Node> files = new java.util.ArrayList<>();
        collect(index, "", files);
        return files;
    }

    private static void collect(FileIndex index, String dir, List<FileIndex.Node> into) {
        for (String name : index.list(dir)) {
            String path = dir.isEmpty() ? name : dir + "/" + name;
            FileIndex.Node node = index.get(path);
            if (node == null) {
                continue;
            }
            if (node.kind() == FileIndex.Kind.DIRECTORY) {
                collect(index, path, into);
            } else if (node.kind() == FileIndex.Kind.FILE) {
                into.add(node);
            }
        }
    }

    @Override
    public void close() throws IOException {
        for (Backend b : backends.values()) {
            b.close();
        }
        backends.clear();
    }
}
