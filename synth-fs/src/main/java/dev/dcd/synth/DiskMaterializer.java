package dev.dcd.synth;

import dev.dcd.backend.Progress;
import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a complete raw image of a synthesized disk, with file data copied in, by walking the region map
 * directly. Zero regions stay holes. This is deliberately independent of the filter chain, so it can serve
 * as the reference the chain is tested against.
 */
public final class DiskMaterializer {
    private static final int CHUNK = 1 << 20;

    private DiskMaterializer() {
    }

    public static void materialize(RegionMap map, Path thinImage, VdiskResolver resolver, Path out, Progress progress)
            throws IOException {
        Map<Integer, BlockDevice> open = new HashMap<>();
        List<ContentId> vdisks = map.vdisks();
        ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel meta = FileChannel.open(thinImage, StandardOpenOption.READ);
             FileChannel dst = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                     StandardOpenOption.WRITE, StandardOpenOption.SPARSE)) {
            long done = 0;
            for (int i = 0; i < map.regionCount(); i++) {
                RegionMap.Region r = map.region(i);
                if (r.kind() != RegionMap.Kind.ZERO) {
                    for (long pos = 0; pos < r.length(); pos += CHUNK) {
                        int n = (int) Math.min(CHUNK, r.length() - pos);
                        buffer.clear().limit(n);
                        if (r.kind() == RegionMap.Kind.METADATA) {
                            dev.dcd.block.FileBlockDevice.readFully(meta, r.start() + pos, buffer, thinImage.toString());
                        } else {
                            BlockDevice device = open.get(r.vdisk());
                            if (device == null) {
                                device = resolver.open(vdisks.get(r.vdisk()));
                                open.put(r.vdisk(), device);
                            }
                            device.read(r.vdiskOffset() + pos, buffer);
                        }
                        buffer.flip();
                        if (!isZero(buffer)) {
                            long at = r.start() + pos;
                            while (buffer.hasRemaining()) {
                                at += dst.write(buffer, at);
                            }
                        }
                    }
                }
                done += r.length();
                progress.advance(done);
            }
            try (var raf = new java.io.RandomAccessFile(out.toFile(), "rw")) {
                raf.setLength(map.size());
            }
            dst.force(true);
        } finally {
            for (BlockDevice device : open.values()) {
                device.close();
            }
        }
    }

    private static boolean isZero(ByteBuffer b) {
        for (int i = b.position(); i < b.limit(); i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
