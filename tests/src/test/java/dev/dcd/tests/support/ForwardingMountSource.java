package dev.dcd.tests.support;

import dev.dcd.block.BlockDevice;
import dev.dcd.mount.MountSource;
import dev.dcd.synth.FileIndex;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;

/**
 * A mount source that passes every call through to {@link #inner} unless a subclass overrides it, as
 * {@code ForwardingBlockDevice} does for devices: a test source that slows or hangs the disk overrides
 * {@link #disk()} (and whatever else it changes) and cannot forget to forward the rest. Closing it closes
 * {@code inner}.
 */
public abstract class ForwardingMountSource implements MountSource {
    protected final MountSource inner;

    protected ForwardingMountSource(MountSource inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    @Override
    public BlockDevice disk() {
        return inner.disk();
    }

    @Override
    public FileIndex files() {
        return inner.files();
    }

    @Override
    public String vmdkDescriptor() {
        return inner.vmdkDescriptor();
    }

    @Override
    public byte[] statsJson() {
        return inner.statsJson();
    }

    @Override
    public String describe() {
        return inner.describe();
    }

    @Override
    public long partitionOffset() {
        return inner.partitionOffset();
    }

    @Override
    public long createdEpochSeconds() {
        return inner.createdEpochSeconds();
    }

    @Override
    public boolean localOnly() {
        return inner.localOnly();
    }

    @Override
    public int generation() {
        return inner.generation();
    }

    @Override
    public void start() {
        inner.start();
    }

    @Override
    public void awaitStarted(java.time.Duration limit) {
        inner.awaitStarted(limit);
    }

    @Override
    public boolean switchBackend(ContentId id, String backend) throws IOException {
        return inner.switchBackend(id, backend);
    }

    @Override
    public String backendOf(ContentId id) throws IOException {
        return inner.backendOf(id);
    }

    @Override
    public int recordPrefetch(ContentId id, Duration window) throws IOException {
        return inner.recordPrefetch(id, window);
    }

    @Override
    public String controlStatus() {
        return inner.controlStatus();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }
}
