package dev.dcd.filter;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.backend.Progress;
import dev.dcd.synth.DiskMaterializer;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.synth.ThinImage;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.EntryType;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskWriter;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Builds a real disk generation without a filesystem synthesizer: app vdisks written with {@link VdiskWriter}
 * and stored on a local backend, a thin image with scattered metadata writes and declared-zero metadata, and
 * a region map placing every file's vdisk range at a disk offset with zero gaps between them. Every region
 * kind appears, regions are adjacent in every combination, and some files share a vdisk range.
 */
public final class TestGeneration {
    public final Path dir;
    public final RegionMap map;
    public final Backend backend;
    public final Map<ContentId, VdiskLabel> labels;
    public final List<SealedVdisk> vdisks;
    public final Path storeDir;

    private TestGeneration(Path dir, RegionMap map, Backend backend, Map<ContentId, VdiskLabel> labels,
                           List<SealedVdisk> vdisks, Path storeDir) {
        this.dir = dir;
        this.map = map;
        this.backend = backend;
        this.labels = labels;
        this.vdisks = vdisks;
        this.storeDir = storeDir;
    }

    /** Shape of a generation: disk size, how many apps, files per app and the largest file. */
    public record Shape(long diskSize, int apps, int filesPerApp, int maxFileBytes, int bigFiles, int bigFileBytes) {
        public static final Shape SMALL = new Shape(64L << 20, 3, 40, 200_000, 2, 3 << 20);
    }

    public VdiskResolver resolver() {
        return backend::open;
    }

    public static TestGeneration create(Path root, String backendName, Shape shape, long seed) throws IOException {
        Random random = new Random(seed);
        Path store = root.resolve("store-" + backendName);
        Files.createDirectories(store);
        Backend backend = Backends.open(backendName, URI.create("local://" + store.toAbsolutePath()));
        Path work = root.resolve("vdisks");
        Files.createDirectories(work);
        List<SealedVdisk> sealed = new ArrayList<>();
        Map<ContentId, VdiskLabel> labels = new HashMap<>();
        for (int a = 0; a < shape.apps(); a++) {
            String app = "app" + a;
            Path file = work.resolve(app + "-" + seed + ".vdisk");
            try (VdiskWriter w = VdiskWriter.create(file, app, "1." + a, 1L << 34)) {
                byte[] shared = bytes(random, 1 + random.nextInt(shape.maxFileBytes()));
                for (int f = 0; f < shape.filesPerApp(); f++) {
                    byte[] content;
                    if (f % 11 == 5) {
                        content = shared; // same bytes: the writer stores them once, two entries share a range
                    } else if (f < shape.bigFiles()) {
                        content = bytes(random, shape.bigFileBytes() - random.nextInt(9000));
                    } else {
                        content = bytes(random, random.nextInt(shape.maxFileBytes()));
                    }
                    w.file("dir" + (f % 4) + "/file" + f, 0644, 0, 0, 1_700_000_000L, 0,
                            new ByteArrayInputStream(content), content.length);
                }
                SealedVdisk s = w.finish();
                try (InputStream in = Files.newInputStream(s.file())) {
                    backend.put(s.id(), in, s.length(), Progress.NONE);
                }
                sealed.add(s);
                labels.put(s.id(), new VdiskLabel(app + "@1." + a, backendName));
            }
        }
        Path dir = root.resolve("gen-" + backendName + "-" + seed);
        Files.createDirectories(dir);
        List<ContentId> ids = sealed.stream().map(SealedVdisk::id).toList();
        RegionMapBuilder builder = new RegionMapBuilder(shape.diskSize(), ids);
        try (ThinImage thin = ThinImage.create(dir.resolve(DynamicContentDisk.META_IMAGE), shape.diskSize())) {
            // A "superblock and tables" area: real bytes, then declared metadata that stays zero.
            thin.write(0, bytes(random, 3 * 4096 + 123));
            thin.declare(64 * 1024, 128 * 1024);
            thin.write(300 * 1024, bytes(random, 777));
            long cursor = 1 << 20;
            int fileNumber = 0;
            for (int v = 0; v < sealed.size(); v++) {
                for (Entry e : sealed.get(v).manifest().entries()) {
                    if (e.type() != EntryType.FILE || e.size() == 0) {
                        continue;
                    }
                    long length = VdiskFormat.alignUp(e.size());
                    if (cursor + length + (64 << 10) > shape.diskSize()) {
                        break;
                    }
                    builder.appData(cursor, length, v, e.dataOffset());
                    cursor += length;
                    fileNumber++;
                    switch (fileNumber % 4) {
                        case 0 -> cursor += 4096L * random.nextInt(4); // a zero gap (or none)
                        case 1 -> { // a metadata block right after the file: extent tree, directory block
                            thin.write(cursor, bytes(random, 4096));
                            cursor += 4096;
                        }
                        case 2 -> cursor += 512; // an unaligned zero gap, so regions are not all 4 KiB aligned
                        default -> {
                        }
                    }
                }
            }
            thin.write(shape.diskSize() - 8192, bytes(random, 8192)); // a backup GPT at the very end
            thin.addTo(builder);
            thin.force();
        }
        RegionMap map = builder.build();
        map.save(dir.resolve(DynamicContentDisk.REGION_MAP));
        return new TestGeneration(dir, map, backend, labels, sealed, store);
    }

    /** Writes the reference image of this generation, independent of the filter chain. */
    public Path materialize(Path out) throws IOException {
        DiskMaterializer.materialize(map, dir.resolve(DynamicContentDisk.META_IMAGE), resolver(), out, Progress.NONE);
        return out;
    }

    public DynamicContentDisk.Builder disk() {
        return DynamicContentDisk.builder().generationDir(dir).resolver(resolver()).labels(labels).vmId("vm1");
    }

    public Path vdiskFile(ContentId id) {
        return storeDir.resolve(id.hex() + ".vdisk");
    }

    static byte[] bytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
