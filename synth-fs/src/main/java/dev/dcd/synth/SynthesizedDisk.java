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

    public static long allocatedBytes(Path file) throws IOException {
        try {
            Object blocks = java.nio.file.Files.getAttribute(file, "unix:blocks");
            return ((Number) blocks).longValue() * 512;
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // JDK 17's "unix" view has no block count; stat(1) reports it (%b blocks of %B bytes).
            return statBlocks(file);
        }
    }

    private static long statBlocks(Path file) throws IOException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim();
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stat " + file + " failed: " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running stat on " + file, e);
        }
        String[] parts = out.split(" ");
        try {
            return Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
        } catch (RuntimeException e) {
            throw new IOException("unexpected output from stat " + file + ": " + out);
        }
    }
}
