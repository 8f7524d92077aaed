package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.synth.VdiskResolver;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * An app vdisk read straight from its backend's device (the local backend: a page-cached file), with every
 * checksum chunk checked against the manifest's CRC32C the first time this process reads it. A vdisk is
 * immutable, so a chunk found good stays good: one bit per chunk remembers it (2 KiB per GiB of data), and
 * from then on a read costs one bitmap look-up on top of the plain read. That keeps the local read path at the
 * speed of a direct file read (docs/filter-chain.md, benchmark) while a damaged chunk is never served: its
 * read fails with an {@link AppReadException} naming app, backend and chunk, every time it is asked for.
 *
 * <p>Opening checks the header (magic, CRC, version, lengths) and the manifest (its SHA-256 is the content id),
 * so a damaged header or manifest is reported on the first read of the app, before any byte of it is served.
 * Devices that verify every chunk themselves ({@link ChunkVerifiedDevice}: S3's) are used as they are.
 */
public final class VerifiedVdisk implements BlockDevice {
    private static final int CHUNK = VdiskFormat.CHECKSUM_CHUNK;
    /** A thread's buffer for a chunk a request covers only in part, read whole to check it. */
    private static final ThreadLocal<ByteBuffer> PART = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(CHUNK));

    private final BlockDevice device;
    private final ContentId id;
    private final VdiskLabel label;
    private final ChunkChecksums sums;
    /** Bit c set: chunk c was read and matched its CRC32C. Set-only, so a racing check costs a repeat at most. */
    private final AtomicLongArray verified;

    private VerifiedVdisk(BlockDevice device, ContentId id, VdiskLabel label, ChunkChecksums sums) {
        this.device = device;
        this.id = id;
        this.label = label;
        this.sums = sums;
        this.verified = new AtomicLongArray((sums.chunkCount() + 63) >>> 6);
    }

    /**
     * A resolver whose devices are checked as the chain checks them (header and manifest at open, each chunk on its
     * first read), for readers outside the chain such as {@code disk export}: they must not copy a damaged byte.
     */
    public static VdiskResolver verifying(VdiskResolver resolver, java.util.function.Function<ContentId, VdiskLabel> labels) {
        return id -> open(id, labels.apply(id), resolver);
    }

    /** Opens vdisk {@code id} through {@code resolver} and checks its header and manifest. */
    static BlockDevice open(ContentId id, VdiskLabel label, VdiskResolver resolver) throws IOException {
        BlockDevice device = resolver.open(id);
        if (device instanceof ChunkVerifiedDevice) {
            return device;
        }
        try {
            AppVdisk vdisk = AppVdisk.open(device);
            if (!vdisk.id().equals(id)) {
                throw new IOException("the backend holds vdisk " + vdisk.id().shortHex() + " under the name of "
                        + id.shortHex());
            }
            return new VerifiedVdisk(device, id, label, vdisk.manifest().checksums());
        } catch (IOException | RuntimeException e) {
            device.close();
            throw e;
        }
    }

    @Override
    public long size() {
        return device.size();
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        int start = dst.position();
        device.read(offset, dst);
        if (length == 0) {
            return;
        }
        // Only the data region is checksummed; header and manifest bytes were checked at open.
        long from = Math.max(offset, sums.base());
        long to = Math.min(offset + length, sums.base() + sums.length());
        if (from >= to) {
            return;
        }
        int first = sums.chunkOf(from);
        int last = sums.chunkOf(to - 1);
        if (allVerified(first, last)) {
            return;
        }
        for (int c = first; c <= last; c++) {
            if (isVerified(c)) {
                continue;
            }
            long chunkStart = sums.chunkStart(c);
            int chunkLength = sums.chunkLength(c);
            ByteBuffer bytes;
            if (chunkStart >= offset && chunkStart + chunkLength <= offset + length) {
                // Whole chunk in the request: check the very bytes about to be served.
                int at = start + (int) (chunkStart - offset);
                bytes = dst.duplicate().limit(at + chunkLength).position(at);
            } else {
                bytes = PART.get().clear().limit(chunkLength);
                device.read(chunkStart, bytes);
                bytes.flip();
            }
            if (!sums.verify(c, bytes)) {
                dst.position(start);
                throw new AppReadException(label, "chunk " + c + " of vdisk " + id.shortHex() + " (vdisk bytes "
                        + chunkStart + "..+" + chunkLength + ") does not match its CRC32C checksum; the vdisk file "
                        + "is damaged and was not served (import the app again)", null);
            }
            setVerified(c);
        }
    }

    private boolean allVerified(int first, int last) {
        int firstWord = first >>> 6;
        int lastWord = last >>> 6;
        for (int w = firstWord; w <= lastWord; w++) {
            long mask = -1L;
            if (w == firstWord) {
                mask &= -1L << (first & 63);
            }
            if (w == lastWord) {
                mask &= -1L >>> (63 - (last & 63));
            }
            if ((verified.get(w) & mask) != mask) {
                return false;
            }
        }
        return true;
    }

    private boolean isVerified(int chunk) {
        return (verified.get(chunk >>> 6) & (1L << (chunk & 63))) != 0;
    }

    private void setVerified(int chunk) {
        verified.getAndUpdate(chunk >>> 6, w -> w | (1L << (chunk & 63)));
    }

    /** Chunks verified so far, for tests and stats. */
    int verifiedChunks() {
        int n = 0;
        for (int w = 0; w < verified.length(); w++) {
            n += Long.bitCount(verified.get(w));
        }
        return n;
    }

    @Override
    public String describe() {
        return "verified(" + device.describe() + ")";
    }

    @Override
    public void close() throws IOException {
        device.close();
    }
}
