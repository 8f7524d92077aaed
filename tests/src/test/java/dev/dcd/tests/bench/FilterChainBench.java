package dev.dcd.tests.bench;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.Progress;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.filter.VdiskLabel;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.synth.ThinImage;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.EntryType;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskWriter;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Benchmark harness (not a test): the full chain (stats > cow > readahead > redirect) on the local backend
 * against reading the same bytes straight from the app vdisk file with a FileChannel, in the same run, with
 * warm page cache on both sides. Both sides read the same bytes in alternating order, round after round, and
 * each side's best round counts. Prints ratios; docs/filter-chain.md records runs and the command.
 *
 * <p>Arguments: [fileMiB=16] [files=16] [rounds=5] [randomReads=200000].
 */
@SuppressWarnings({"unchecked", "rawtypes"})
public final class FilterChainBench {
    private static final int MIB = 1 << 20;

    private FilterChainBench() {
    }

    /** One file's bytes in both address spaces. */
    private record Span(long diskOffset, long vdiskOffset, long length) {
    }

    public static void main(String[] args) throws Exception {
        int fileMib = args.length > 0 ? Integer.parseInt(args[0]) : 16;
        int files = args.length > 1 ? Integer.parseInt(args[1]) : 16;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        int randomReads = args.length > 3 ? Integer.parseInt(args[3]) : 200_000;
        Path root = Files.createTempDirectory("dcd-bench-");
        try {
            run(root, fileMib, files, rounds, randomReads);
        } finally {
            try (Stream<Path> walk = Files.walk(root)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void run(Path root, int fileMib, int files, int rounds, int randomReads) throws Exception {
        System.out.printf(Locale.ROOT, "FilterChainBench: %d files x %d MiB, %d rounds, %d random reads, java %s, %d cpus, "
                + "load average %s%n", files, fileMib, rounds, randomReads, System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(), loadAverage());
        Path store = Files.createDirectories(root.resolve("store"));
        Backend backend = Backends.open("local", URI.create("local://" + store));
        Random random = new Random(1);
        SealedVdisk vdisk;
        try (VdiskWriter w = VdiskWriter.create(root.resolve("app.vdisk"), "bench", "1", 1L << 40)) {
            byte[] content = new byte[fileMib * MIB - 1234];
            for (int f = 0; f < files; f++) {
                random.nextBytes(content);
                w.file("data/file" + f, 0644, 0, 0, 0, 0, new java.io.ByteArrayInputStream(content), content.length);
            }
            vdisk = w.finish();
        }
        try (InputStream in = Files.newInputStream(vdisk.file())) {
            backend.put(vdisk.id(), in, vdisk.length(), Progress.NONE);
        }
        Files.delete(vdisk.file());
        phase("app vdisk written and stored");
        Path vdiskFile = store.resolve(vdisk.id().hex() + ".vdisk");

        long diskSize = 2L * files * fileMib * MIB + 64L * MIB;
        Path gen = Files.createDirectories(root.resolve("vm/gen1"));
        RegionMapBuilder builder = new RegionMapBuilder(diskSize, List.of(vdisk.id()));
        List<Span> spans = new ArrayList<>();
        try (ThinImage thin = ThinImage.create(gen.resolve(DynamicContentDisk.META_IMAGE), diskSize)) {
            byte[] meta = new byte[64 * 1024];
            random.nextBytes(meta);
            thin.write(0, meta);
            long cursor = MIB;
            for (Entry e : vdisk.manifest().entries()) {
                if (e.type() != EntryType.FILE) {
                    continue;
                }
                long length = VdiskFormat.alignUp(e.size());
                builder.appData(cursor, length, 0, e.dataOffset());
                spans.add(new Span(cursor, e.dataOffset(), length));
                cursor += length;
                thin.write(cursor, Arrays.copyOf(meta, 4096)); // an extent block after each file
                cursor += 4096;
            }
            thin.addTo(builder);
        }
        RegionMap map = builder.build();
        map.save(gen.resolve(DynamicContentDisk.REGION_MAP));
        phase("generation synthesized");

        try (FileChannel direct = FileChannel.open(vdiskFile, StandardOpenOption.READ)) {
            ByteBuffer big = ByteBuffer.allocateDirect(MIB);
            // Warm the page cache so both sides read from memory.
            for (long pos = 0; pos < direct.size(); pos += MIB) {
                big.clear();
                direct.read(big, pos);
            }
            // As the disk service configures a local backend (readahead and cache are for remote backends),
            // then with readahead forced on for the local backend too, for comparison.
            String[] labels = {"local: readahead off", "readahead forced on"};
            Set<String>[] readaheadBackends = new Set[] {Set.of("remote"), Set.of("local")};
            for (int k = 0; k < labels.length; k++) {
                try (DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(gen)
                        .resolver(backend::open).labels(Map.of(vdisk.id(), new VdiskLabel("bench@1", "local")))
                        .readahead(ReadaheadConfig.DEFAULT, readaheadBackends[k]).build()) {
                    System.out.println("chain: " + disk.describe());
                    sequential(labels[k], disk, direct, spans, rounds, big);
                    randomReads(labels[k], disk, direct, spans, rounds, randomReads);
                }
            }
        }
        phase("reads measured");
        writes(root, gen, backend, vdisk, spans, rounds);
        phase("writes measured; load average now " + loadAverage());
    }

    private static void sequential(String label, DynamicContentDisk disk, FileChannel directChannel, List<Span> spans,
                                   int rounds, ByteBuffer buf) throws IOException {
        double[] chain = new double[rounds];
        double[] peer = new double[rounds];
        long bytes = 0;
        for (Span s : spans) {
            bytes += s.length();
        }
        int n = spans.size();
        // Two unmeasured rounds first: the chain's deeper call path needs the JIT's attention before it is timed.
        for (int r = -2; r < rounds; r++) {
            // Both sides alternate read by read, so they share the machine's load at a fine grain, and read
            // different spans at each step (span s against span s + n/2), so neither finds the other's bytes in
            // the CPU caches; over a round each side reads every byte once.
            long direct = 0;
            long through = 0;
            for (long pos = 0; pos < spans.get(0).length(); pos += MIB) {
                for (int i = 0; i < n; i++) {
                    Span d = spans.get(i);
                    Span c = spans.get((i + n / 2) % n);
                    boolean chainFirst = ((i + r) & 1) == 0;
                    for (int k = 0; k < 2; k++) {
                        boolean chainTurn = (k == 0) == chainFirst;
                        Span s = chainTurn ? c : d;
                        buf.clear().limit((int) Math.min(MIB, s.length() - pos));
                        long t0 = System.nanoTime();
                        if (chainTurn) {
                            disk.read(s.diskOffset() + pos, buf);
                            through += System.nanoTime() - t0;
                        } else {
                            FileBlockDevice.readFully(directChannel, s.vdiskOffset() + pos, buf, "vdisk");
                            direct += System.nanoTime() - t0;
                        }
                    }
                }
            }
            if (r >= 0) {
                peer[r] = bytes / (direct / 1e9) / MIB;
                chain[r] = bytes / (through / 1e9) / MIB;
            } else if (r == -2) {
                // The chain's very first pass: local chunks are checked against their CRC32C on first read.
                System.out.printf(Locale.ROOT, "[%s] first pass (unmeasured warm-up, chunks verified on first read): "
                        + "chain %.0f MiB/s, direct FileChannel %.0f MiB/s, ratio %.2fx%n", label,
                        bytes / (through / 1e9) / MIB, bytes / (direct / 1e9) / MIB, (double) direct / through);
            }
        }
        double c = max(chain);
        double p = max(peer);
        System.out.printf(Locale.ROOT, "[%s] sequential 1 MiB reads: chain %.0f MiB/s, direct FileChannel %.0f MiB/s, "
                + "ratio %.2fx (target >= 0.9x)%n", label, c, p, c / p);
        double[] ratios = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            ratios[r] = chain[r] / peer[r];
        }
        System.out.printf(Locale.ROOT, "[%s] sequential ratio per round: median %.2fx, min-max %.2fx-%.2fx%n", label,
                BenchMath.median(ratios), min(ratios), max(ratios));
    }



    private static void randomReads(String label, DynamicContentDisk disk, FileChannel directChannel, List<Span> spans,
                                    int rounds, int count) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(4096);
        long[] diskOffsets = new long[count];
        long[] vdiskOffsets = new long[count];
        Random random = new Random(2);
        for (int i = 0; i < count; i++) {
            Span s = spans.get(random.nextInt(spans.size()));
            long block = random.nextInt((int) (s.length() / 4096)) * 4096L;
            diskOffsets[i] = s.diskOffset() + block;
            vdiskOffsets[i] = s.vdiskOffset() + block;
        }
        double[] chain = new double[rounds];
        double[] peer = new double[rounds];
        for (int r = -1; r < rounds; r++) {
            // Alternating read by read, each side on a different block (i against i + count/2).
            long direct = 0;
            long through = 0;
            for (int i = 0; i < count; i++) {
                int j = (i + count / 2) % count;
                boolean chainFirst = ((i + r) & 1) == 0;
                for (int k = 0; k < 2; k++) {
                    buf.clear();
                    long t0 = System.nanoTime();
                    if ((k == 0) == chainFirst) {
                        disk.read(diskOffsets[i], buf);
                        through += System.nanoTime() - t0;
                    } else {
                        FileBlockDevice.readFully(directChannel, vdiskOffsets[j], buf, "vdisk");
                        direct += System.nanoTime() - t0;
                    }
                }
            }
            if (r >= 0) {
                peer[r] = direct / (double) count;
                chain[r] = through / (double) count;
            }
        }
        double c = min(chain);
        double p = min(peer);
        System.out.printf(Locale.ROOT, "[%s] random 4 KiB reads: chain %.2f us, direct FileChannel %.2f us, "
                + "added %.2f us per read (target <= 2 us)%n", label, c / 1e3, p / 1e3, (c - p) / 1e3);
    }

    private static void writes(Path root, Path gen, Backend backend, SealedVdisk vdisk, List<Span> spans, int rounds)
            throws IOException {
        long span = 0;
        for (Span s : spans) {
            span += s.length();
        }
        long total = Math.min(span, 256L * MIB);
        ByteBuffer data = ByteBuffer.allocateDirect(MIB);
        byte[] bytes = new byte[MIB];
        new Random(3).nextBytes(bytes);
        data.put(bytes).flip();
        double[] chainSeq = new double[rounds];
        double[] peerSeq = new double[rounds];
        double[] chainRnd = new double[rounds];
        double[] peerRnd = new double[rounds];
        int randomWrites = 20_000;
        for (int r = 0; r < rounds; r++) {
            // A fresh overlay each round on the same generation (meta.img is sparse; copying it would not be).
            // Old rounds' files are only renamed away: deleting hundreds of fresh MiB stalls this disk for a minute.
            Path dir = gen;
            for (String f : List.of("overlay.data", "overlay.map")) {
                if (Files.exists(dir.resolve(f))) {
                    Files.move(dir.resolve(f), root.resolve(f + "." + r));
                }
            }
            Path plain = root.resolve("plain" + r);
            try (FileChannel peer = FileChannel.open(plain, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    StandardOpenOption.READ, StandardOpenOption.SPARSE);
                 DynamicContentDisk disk = DynamicContentDisk.builder().generationDir(dir).resolver(backend::open)
                         .readahead(ReadaheadConfig.DISABLED).build()) {
                peer.truncate(0);
                long t0 = System.nanoTime();
                for (long pos = 0; pos < total; pos += MIB) {
                    ByteBuffer b = data.duplicate();
                    while (b.hasRemaining()) {
                        peer.write(b, MIB + pos + b.position());
                    }
                }
                peer.force(false);
                long t1 = System.nanoTime();
                for (long pos = 0; pos < total; pos += MIB) {
                    disk.write(MIB + pos, data.duplicate());
                }
                disk.flush();
                long t2 = System.nanoTime();
                peerSeq[r] = total / ((t1 - t0) / 1e9) / MIB;
                chainSeq[r] = total / ((t2 - t1) / 1e9) / MIB;

                Random random = new Random(r);
                long area = disk.size() - MIB - total;
                long[] offsets = new long[randomWrites];
                for (int i = 0; i < randomWrites; i++) {
                    offsets[i] = MIB + total + (random.nextLong(area / 4096)) * 4096;
                }
                ByteBuffer small = data.duplicate().limit(4096);
                long t3 = System.nanoTime();
                for (long o : offsets) {
                    ByteBuffer b = small.duplicate();
                    while (b.hasRemaining()) {
                        peer.write(b, o + b.position());
                    }
                }
                peer.force(false);
                long t4 = System.nanoTime();
                for (long o : offsets) {
                    disk.write(o, small.duplicate());
                }
                disk.flush();
                long t5 = System.nanoTime();
                peerRnd[r] = randomWrites / ((t4 - t3) / 1e9);
                chainRnd[r] = randomWrites / ((t5 - t4) / 1e9);
            }
        }
        System.out.printf(Locale.ROOT, "overlay sequential 1 MiB writes + flush: chain %.0f MiB/s, plain sparse file %.0f "
                + "MiB/s, ratio %.2fx%n", max(chainSeq), max(peerSeq), max(chainSeq) / max(peerSeq));
        System.out.printf(Locale.ROOT, "overlay random 4 KiB writes + flush: chain %.0f writes/s, plain sparse file %.0f "
                + "writes/s, ratio %.2fx%n", max(chainRnd), max(peerRnd), max(chainRnd) / max(peerRnd));
    }

    private static final long START = System.nanoTime();

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim().split(" ")[0];
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static void phase(String what) {
        System.out.printf(Locale.ROOT, "  (%.1f s) %s%n", (System.nanoTime() - START) / 1e9, what);
    }

    // Best of the rounds on each side: on a shared machine interference only ever slows a round down.
    private static double max(double[] values) {
        return Arrays.stream(values).max().orElseThrow();
    }

    private static double min(double[] values) {
        return Arrays.stream(values).min().orElseThrow();
    }
}
