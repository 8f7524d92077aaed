package dev.dcd.synth.ext4;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Synthesizes a GPT disk with one ext4 partition whose metadata is real and written to the thin image,
 * and whose file blocks are mapped to the apps' vdisks. See docs/ext4-synthesis.md.
 */
public final class Ext4Synthesizer implements Synthesizer {
    @Override
    public FsType type() {
        return FsType.EXT4;
    }

    @Override
    public SynthesizedDisk synthesize(DiskSpec spec, List<AppLayer> layers, Path dir, Progress progress) throws IOException {
        Ext4Builder builder = new Ext4Builder(spec, layers, dir, progress);
        builder.plan();   // fails before anything is written when the apps cannot fit
        Files.createDirectories(dir);
        try {
            return builder.build();
        } catch (IOException | RuntimeException e) {
            builder.removeOutputs();
            throw e;
        }
    }
}
