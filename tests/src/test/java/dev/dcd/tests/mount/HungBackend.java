package dev.dcd.tests.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.ForwardingBlockDevice;
import dev.dcd.mount.MountSource;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.support.ForwardingMountSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test VM whose files under one directory live on a backend that stops answering: a read touching their
 * extents waits, as a real backend client waits for a server that hangs, until its deadline, and then fails with
 * the kind of message a backend gives. Every other read is served at once from the image. The source counts as
 * remote ({@code localOnly() == false}), as a VM with such a backend does.
 *
 * <p>Configured by {@code $DCD_HOME/vms/VM/hung-backend.properties}: {@code dir=} (a directory of the index) and
 * {@code millis=} (the deadline). {@code stats.json} shows {@code "waiting": N}, the reads waiting right now.
 */
final class HungBackend extends ForwardingMountSource {
    static final String FILE = "hung-backend.properties";

    private final Hanging disk;

    private HungBackend(MountSource inner, Hanging disk) {
        super(inner);
        this.disk = disk;
    }

    /** {@code inner} unchanged when {@code vmDir} has no {@link #FILE}. */
    static MountSource wrapIfConfigured(MountSource inner, Path vmDir) throws IOException {
        Path config = vmDir.resolve(FILE);
        if (!Files.exists(config)) {
            return inner;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(config)) {
            p.load(in);
        }
        String dir = p.getProperty("dir");
        long millis = Long.parseLong(p.getProperty("millis"));
        List<long[]> ranges = new ArrayList<>();
        for (String name : inner.files().list(dir)) {
            FileIndex.Node node = inner.files().get(dir + "/" + name);
            for (int i = 0; i < node.extentCount(); i++) {
                ranges.add(new long[]{node.extentOffset(i), node.extents()[2 * i + 1]});
            }
        }
        return new HungBackend(inner, new Hanging(inner.disk(), ranges, millis));
    }

    /** Reads that overlap {@code ranges} wait out the deadline, then fail; all else passes through. */
    private static final class Hanging extends ForwardingBlockDevice<BlockDevice> {
        private final List<long[]> ranges;
        private final long millis;
        /** Never counted down: the backend never answers. */
        private final CountDownLatch answer = new CountDownLatch(1);
        private final AtomicInteger waiting = new AtomicInteger();

        Hanging(BlockDevice next, List<long[]> ranges, long millis) {
            super(next);
            this.ranges = ranges;
            this.millis = millis;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            long end = offset + dst.remaining();
            for (long[] r : ranges) {
                if (offset < r[0] + r[1] && r[0] < end) {
                    waiting.incrementAndGet();
                    try {
                        answer.await(millis, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } finally {
                        waiting.decrementAndGet();
                    }
                    throw new IOException("backend 'hung' did not answer within " + millis + " ms");
                }
            }
            super.read(offset, dst);
        }
    }

    @Override
    public BlockDevice disk() {
        return disk;
    }

    @Override
    public byte[] statsJson() {
        String s = new String(inner.statsJson(), StandardCharsets.UTF_8).strip();
        return (s.substring(0, s.length() - 1) + ",\"waiting\":" + disk.waiting.get() + "}\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String describe() {
        return inner.describe() + ", files under one directory on a hung backend";
    }

    @Override
    public boolean localOnly() {
        return false;
    }
}
