package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.synth.RegionMap;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The bottom of the chain, nbdkit's "plugin": serves the synthesized disk by looking every byte up in the
 * region map. Metadata comes from the generation's thin image, app data from the app vdisk at the mapped
 * offset, zero regions are zeros. Read-only; the overlay above absorbs writes.
 */
final class RedirectPlugin implements ExtendedBlockDevice {
    private static final int APP_DATA = RegionMap.Kind.APP_DATA.ordinal();
    private static final int METADATA = RegionMap.Kind.METADATA.ordinal();

    private final RegionMap map;
    private final Path metaPath;
    private final FileChannel meta;
    private final VdiskSlot[] vdisks;
    private final String name;
    private volatile MetadataZeros metadataZeros;

    RedirectPlugin(RegionMap map, Path metaImage, VdiskSlot[] vdisks) throws IOException {
        this.map = map;
        this.metaPath = metaImage;
        this.meta = FileChannel.open(metaImage, StandardOpenOption.READ);
        this.vdisks = vdisks;
        this.name = "redirect(" + metaImage.getParent().getFileName() + ")";
        if (meta.size() < map.size()) {
            meta.close();
            throw new IOException(metaImage + " holds " + meta.size() + " bytes but the region map describes "
                    + map.size());
        }
    }

    RegionMap map() {
        return map;
    }

    @Override
    public long size() {
        return map.size();
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY.withExtents(true);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        BlockDevice.checkRange(this, offset, length);
        if (length == 0) {
            return;
        }
        int limit = dst.limit();
        long pos = offset;
        int index = map.indexOf(pos);
        try {
            while (dst.position() < limit) {
                RegionMap.Region r = map.region(index++);
                int n = (int) Math.min(limit - dst.position(), r.end() - pos);
                dst.limit(dst.position() + n);
                int kind = r.kind().ordinal();
                if (kind == APP_DATA) {
                    vdisks[r.vdisk()].read(r.vdiskOffset() + (pos - r.start()), dst);
                } else if (kind == METADATA) {
                    FileBlockDevice.readFully(meta, pos, dst, metaPath.toString());
                } else {
                    Zeros.fill(dst, n);
                }
                pos += n;
            }
        } finally {
            dst.limit(limit);
        }
    }

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        int index = length == 0 ? 0 : map.indexOf(pos);
        while (pos < end) {
            RegionMap.Region r = map.region(index++);
            long regionEnd = Math.min(end, r.end());
            if (r.kind() == RegionMap.Kind.METADATA) {
                metadataExtents(pos, regionEnd, out);
            } else {
                add(out, pos, regionEnd - pos, r.kind() == RegionMap.Kind.ZERO ? Extent.Type.HOLE : Extent.Type.DATA);
            }
            pos = regionEnd;
        }
        return out;
    }

    /** A metadata range split at the thin image's holes: holes read as zeros, the rest is data. */
    private void metadataExtents(long pos, long end, List<Extent> out) throws IOException {
        MetadataZeros zeros = metadataZeros();
        int hole = zeros.firstEndingAfter(pos);
        while (pos < end) {
            if (hole < zeros.holes() && zeros.start(hole) <= pos) {
                long n = Math.min(end, zeros.end(hole)) - pos;
                add(out, pos, n, Extent.Type.HOLE);
                pos += n;
                hole++;
            } else {
                long next = hole < zeros.holes() ? Math.min(end, zeros.start(hole)) : end;
                add(out, pos, next - pos, Extent.Type.DATA);
                pos = next;
            }
        }
    }

    private static void add(List<Extent> out, long offset, long length, Extent.Type type) {
        if (!out.isEmpty() && out.get(out.size() - 1).type() == type) {
            Extent last = out.remove(out.size() - 1);
            out.add(new Extent(last.offset(), last.length() + length, type));
        } else {
            out.add(new Extent(offset, length, type));
        }
    }

    /** Found on the first block-status request, not at open: FUSE-only serving never pays for the scan. */
    MetadataZeros metadataZeros() throws IOException {
        MetadataZeros z = metadataZeros;
        if (z == null) {
            synchronized (this) {
                z = metadataZeros;
                if (z == null) {
                    z = MetadataZeros.scan(metaPath, map.size());
                    metadataZeros = z;
                }
            }
        }
        return z;
    }

    @Override
    public String describe() {
        return name;
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (VdiskSlot slot : vdisks) {
            try {
                slot.close();
            } catch (IOException e) {
                failure = failure == null ? e : failure;
            }
        }
        meta.close();
        if (failure != null) {
            throw failure;
        }
    }

    /** The slot of vdisk {@code index} of the region map (for the prefetcher). */
    VdiskSlot slot(int index) {
        return vdisks[index];
    }

    /** True when the byte at {@code offset} is app data read through the shared cache (prefetched by filling it). */
    boolean fills(long offset) {
        if (offset < 0 || offset >= map.size()) {
            return false;
        }
        RegionMap.Region region = map.region(map.indexOf(offset));
        return region.kind() == RegionMap.Kind.APP_DATA && vdisks[region.vdisk()].fills();
    }

    /** Brings the app data of a range inside one region into the shared cache (see {@link #fills}). */
    void fill(long offset, long length, Runnable progress) throws IOException {
        RegionMap.Region region = map.region(map.indexOf(offset));
        long n = Math.min(length, region.end() - offset);
        if (region.kind() == RegionMap.Kind.APP_DATA && n > 0) {
            vdisks[region.vdisk()].fill(region.vdiskOffset() + (offset - region.start()), n, progress);
        }
    }

    /** True when the range lies in one app-data region whose bytes are all in the shared cache. */
    boolean resident(long offset, long length) {
        if (offset < 0 || length <= 0 || offset + length > map.size()) {
            return false;
        }
        RegionMap.Region region = map.region(map.indexOf(offset));
        if (region.kind() != RegionMap.Kind.APP_DATA || offset + length > region.end()) {
            return false;
        }
        return vdisks[region.vdisk()].resident(region.vdiskOffset() + (offset - region.start()), length);
    }
}
