package dev.dcd.vdisk;

import dev.dcd.block.BlockDevice;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A vdisk opened for reading: header and manifest parsed and checked against the content id.
 * Needs nothing but the device, which is what lets a catalog be rebuilt from a backend alone.
 */
public final class AppVdisk {
    private final BlockDevice device;
    private final VdiskHeader header;
    private final Manifest manifest;

    private AppVdisk(BlockDevice device, VdiskHeader header, Manifest manifest) {
        this.device = device;
        this.header = header;
        this.manifest = manifest;
    }

    public static AppVdisk open(BlockDevice device) throws IOException {
        String what = device.describe();
        if (device.size() < VdiskFormat.HEADER_SIZE) {
            throw new IOException(what + " is too short to be an app vdisk");
        }
        ByteBuffer raw = ByteBuffer.allocate(VdiskFormat.HEADER_SIZE);
        device.read(0, raw);
        VdiskHeader header = VdiskHeader.decode(raw.flip(), what);
        if (header.totalLength() != device.size() || header.manifestLength() > Integer.MAX_VALUE
                || header.dataOffset() + header.dataLength() > header.manifestOffset()) {
            throw new IOException(what + " is truncated or has inconsistent lengths (header says "
                    + header.totalLength() + " bytes, object has " + device.size() + ")");
        }
        ByteBuffer manifestBytes = ByteBuffer.allocate((int) header.manifestLength());
        device.read(header.manifestOffset(), manifestBytes);
        byte[] encoded = manifestBytes.array();
        if (!Arrays.equals(Manifest.sha256(encoded), header.contentId().bytes())) {
            throw new IOException(what + " has a manifest that does not match its content id");
        }
        return new AppVdisk(device, header, Manifest.decode(encoded));
    }

    public ContentId id() {
        return header.contentId();
    }

    public VdiskHeader header() {
        return header;
    }

    public Manifest manifest() {
        return manifest;
    }

    public BlockDevice device() {
        return device;
    }

    /** Reads {@code dst.remaining()} bytes of a file's content starting at {@code position} within the file. */
    public void read(Entry entry, long position, ByteBuffer dst) throws IOException {
        if (position < 0 || position + dst.remaining() > entry.size()) {
            throw new IOException("read past the end of " + entry.path());
        }
        device.read(entry.dataOffset() + position, dst);
    }

    public InputStream open(Entry entry) {
        return new InputStream() {
            private final ByteBuffer one = ByteBuffer.allocate(1);
            private long position;

            @Override
            public int read() throws IOException {
                one.clear();
                return read(one.array(), 0, 1) < 0 ? -1 : one.get(0) & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (position >= entry.size()) {
                    return -1;
                }
                int n = (int) Math.min(len, entry.size() - position);
                AppVdisk.this.read(entry, position, ByteBuffer.wrap(b, off, n));
                position += n;
                return n;
            }
        };
    }
}
