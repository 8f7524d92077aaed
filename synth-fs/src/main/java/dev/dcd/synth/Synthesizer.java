package dev.dcd.synth;

import dev.dcd.backend.Progress;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Lays out a filesystem for a set of apps. Writes {@code dir/}{@value SynthesizedDisk#IMAGE} (the thin image,
 * metadata only) and {@code dir/}{@value SynthesizedDisk#REGIONS} (the region map). Never copies file data.
 * Implementations are found with {@link java.util.ServiceLoader}; see {@link Synthesizers}.
 */
public interface Synthesizer {

    FsType type();

    /**
     * @throws SynthesisException for anything the user can fix: conflicts, names the filesystem forbids,
     *                            apps that do not fit. {@code dir} may be left half-written; callers build in a
     *                            temporary directory and rename it.
     *                            When it returns, every file it wrote in {@code dir} is on stable storage (data
     *                            and size); making the rename durable is the caller's part.
     */
    SynthesizedDisk synthesize(DiskSpec spec, List<AppLayer> layers, Path dir, Progress progress) throws IOException;
}
