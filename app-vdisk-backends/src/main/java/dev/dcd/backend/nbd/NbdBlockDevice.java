package dev.dcd.backend.nbd;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;

import java.io.IOException;
import java.nio.ByteBuffer;

/** A whole NBD export as a {@link BlockDevice}, every call bounded by the client's deadline. Does not own the client. */
public final class NbdBlockDevice implements BlockDevice {
    private final NbdClient client;

    public NbdBlockDevice(NbdClient client) {
        this.client = client;
    }

    @Override
    public long size() {
        return client.size();
    }

    @Override
    public Capabilities capabilities() {
        return client.readOnly() ? Capabilities.READ_ONLY
                : Capabilities.READ_WRITE.withFlush(client.canFlush()).withTrim(client.canTrim());
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        BlockDevice.checkRange(this, offset, dst.remaining());
        client.read(offset, dst, client.deadline());
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        BlockDevice.checkRange(this, offset, src.remaining());
        client.write(offset, src, client.deadline());
    }

    @Override
    public void flush() throws IOException {
        client.flush(client.deadline());
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        client.trim(offset, length, client.deadline());
    }

    @Override
    public String describe() {
        return "NBD " + client.address();
    }
}
