package dev.dcd.synth;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A synthesized generation: the thin image, its region map, and figures for {@code disk build} and
 * {@code disk stat}.
 *
 * @param partitionOffset byte offset of the filesystem partition inside the disk
 * @param fileCount       distinct regular files
 * @param appBytes        bytes of file content mapped to app vdisks
 * @param warnings        things skipped or changed (FAT symlinks, for example), one line each
 */
public record SynthesizedDisk(Path dir, RegionMap regionMap, long partitionOffset, long partitionLength,
                              long fileCount, long directoryCount, long appBytes, List<String> warnings) {
    public static final String IMAGE = "meta.img";
    public static final String REGIONS = "regions.bin";

    public Path image() {
        return dir.resolve(IMAGE);
    }

    public long virtualSize() {
        return regionMap.size();
    }

    /** Bytes the thin image really occupies on the host filesystem. */
    public long allocatedBytes() throws IOException {
        return allocatedBytes(image());
    }

    /**
     * Java exposes no st_blocks, so ask stat(1): allocated blocks times their size, which is what du reports.
     */
    public static long allocatedBytes(Path file) throws IOException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stat " + file + " failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while running stat");
        }
        String[] parts = out.split(" ");
        return Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
    }
}
