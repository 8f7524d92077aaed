package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ForwardingBlockDevice;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Wraps a backend object so that its errors and descriptions carry the backend's name and the object id. */
final class NamedDevice extends ForwardingBlockDevice<BlockDevice> {
    private final String name;

    NamedDevice(BlockDevice inner, String name) {
        super(inner);
        this.name = name;
    }

    /** Backend objects are immutable vdisks, whatever the device beneath could do. */
    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        throw new dev.dcd.block.ReadOnlyDeviceException(describe());
    }

    @Override
    public void trim(long offset, long length) {
        throw new UnsupportedOperationException("trim is not supported by " + describe());
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        try {
            next.read(offset, dst);
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            String[] parts = name.split(":", 2);
            throw new BackendException(parts[0], parts[1], "read at " + offset + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public String describe() {
        return name;
    }
}
