package dev.dcd.block;

import java.io.IOException;
import java.nio.ByteBuffer;

/** A device held in a byte array; for tests and for small synthesized structures. */
public final class MemoryBlockDevice implements BlockDevice {
    private final byte[] bytes;
    private final boolean writable;

    public MemoryBlockDevice(byte[] bytes, boolean writable) {
        this.bytes = bytes;
        this.writable = writable;
    }

    public static MemoryBlockDevice readOnly(byte[] bytes) {
        return new MemoryBlockDevice(bytes, false);
    }

    public byte[] bytes() {
        return bytes;
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public Capabilities capabilities() {
        return writable ? Capabilities.READ_WRITE : Capabilities.READ_ONLY;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.remaining());
        dst.put(bytes, (int) offset, dst.remaining());
    }

    @Override
    public synchronized void write(long offset, ByteBuffer src) throws IOException {
        if (!writable) {
            throw new ReadOnlyDeviceException(describe());
        }
        BlockDevice.checkRange(this, offset, src.remaining());
        src.get(bytes, (int) offset, src.remaining());
    }

    @Override
    public synchronized void trim(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        java.util.Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public String describe() {
        return "memory device";
    }
}
