package dev.dcd.shell;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsNode;
import dev.dcd.synth.FsType;
import dev.dcd.synth.Gpt;
import dev.dcd.synth.MergedTree;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizer;
import dev.dcd.synth.ThinImage;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A stand-in synthesizer for the shell's tests (the real ext4 and FAT32 ones live elsewhere): a GPT, then at
 * the partition start a text index {@code offset size path} per file, then every file's data mapped back to
 * its vdisk, one after another on 4 KiB boundaries. Enough for build, stat and export to be tested for real.
 */
public class FakeSynthesizer implements Synthesizer {
    static final int BLOCK = 4096;
    /** Bytes reserved for the index at the start of the partition. */
    static final int INDEX_BYTES = 1 << 20;

    @Override
    public FsType type() {
        return FsType.EXT4;
    }

    /** The FAT32 twin, so VMs of either type can be built in tests. */
    public static final class Fat32 extends FakeSynthesizer {
        @Override
        public FsType type() {
            return FsType.FAT32;
        }
    }

    @Override
    public SynthesizedDisk synthesize(DiskSpec spec, List<AppLayer> layers, Path dir, Progress progress) throws IOException {
        MergedTree tree = MergedTree.merge(layers);
        List<ContentId> vdisks = new ArrayList<>();
        int[] vdiskOfLayer = new int[layers.size()];
        for (int i = 0; i < layers.size(); i++) {
            ContentId id = layers.get(i).contentId();
            if (!vdisks.contains(id)) {
                vdisks.add(id);
            }
            vdiskOfLayer[i] = vdisks.indexOf(id);
        }
        Gpt.Layout layout = Gpt.layout(spec.diskSize());
        RegionMapBuilder regions = new RegionMapBuilder(spec.diskSize(), vdisks);
        StringBuilder index = new StringBuilder();
        long[] cursor = {layout.partitionOffset() + INDEX_BYTES};
        Map<FsNode.File, Boolean> placed = new IdentityHashMap<>();
        walk(tree.root(), "", (path, file) -> {
            if (placed.put(file, Boolean.TRUE) != null) {
                return;
            }
            long length = (file.size() + BLOCK - 1) / BLOCK * BLOCK;
            if (cursor[0] + length > layout.partitionEnd()) {
                throw new dev.dcd.synth.SynthesisException("apps do not fit on a disk of " + spec.diskSize() + " bytes");
            }
            regions.appData(cursor[0], length, vdiskOfLayer[file.layer()], file.vdiskOffset());
            index.append(cursor[0]).append(' ').append(file.size()).append(' ').append(path).append('\n');
            cursor[0] += length;
        });
        byte[] indexBytes = index.toString().getBytes(StandardCharsets.UTF_8);
        if (indexBytes.length > INDEX_BYTES) {
            throw new dev.dcd.synth.SynthesisException("too many files for the fake synthesizer");
        }
        try (ThinImage image = ThinImage.create(dir.resolve(SynthesizedDisk.IMAGE), spec.diskSize())) {
            Gpt.write(image, layout, Gpt.LINUX_FILESYSTEM, spec.derivedUuid("disk"), spec.derivedUuid("partition"), "dcd");
            image.write(layout.partitionOffset(), indexBytes);
            image.addTo(regions);
            image.force();
        }
        RegionMap map = regions.build();
        map.save(dir.resolve(SynthesizedDisk.REGIONS));
        progress.advance(spec.diskSize());
        return new SynthesizedDisk(dir, map, layout.partitionOffset(), layout.partitionLength(), tree.fileCount(),
                tree.directoryCount(), map.bytesOf(RegionMap.Kind.APP_DATA), List.of());
    }

    interface FileVisitor {
        void visit(String path, FsNode.File file) throws IOException;
    }

    private static void walk(FsNode.Dir dir, String prefix, FileVisitor visitor) throws IOException {
        for (Map.Entry<String, FsNode> child : dir.children().entrySet()) {
            String path = prefix.isEmpty() ? child.getKey() : prefix + "/" + child.getKey();
            if (child.getValue() instanceof FsNode.File file) {
                visitor.visit(path, file);
            } else if (child.getValue() instanceof FsNode.Dir sub) {
                walk(sub, path, visitor);
            }
        }
    }
}
