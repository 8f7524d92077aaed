package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Wraps a backend object so that its errors and descriptions carry the backend's name and the object id. */
final class NamedDevice implements BlockDevice {
    private final BlockDevice inner;
    private final String name;

    NamedDevice(BlockDevice inner, String name) {
        this.inner = inner;
        this.name = name;
    }

    @Override
    public long size() {
        return inner.size();
    }

    @Override
    public Capabilities capabilities() {
        return Capabilities.READ_ONLY;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        try {
            inner.read(offset, dst);
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

    @Override
    public void close() throws IOException {
        inner.close();
    }
}
