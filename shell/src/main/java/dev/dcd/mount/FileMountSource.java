package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.block.ForwardingBlockDevice;
import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link MountSource} over a plain raw image, read-write: for tests and benchmarks, and as the reference
 * the real filter chain is compared against. Writes change the image file itself, so pass a copy.
 */
public final class FileMountSource implements MountSource {
    private final String name;
    private final Counting disk;
    private final FileIndex files;
    private final String descriptor;

    private FileMountSource(String name, Counting disk, FileIndex files, String descriptor) {
        this.name = name;
        this.disk = disk;
        this.files = files;
        this.descriptor = descriptor;
    }

    public static FileMountSource open(String name, Path image, FileIndex files, String descriptor) throws IOException {
        return new FileMountSource(name, new Counting(FileBlockDevice.openReadWrite(image)), files, descriptor);
    }

    @Override
    public BlockDevice disk() {
        return disk;
    }

    @Override
    public FileIndex files() {
        return files;
    }

    @Override
    public String vmdkDescriptor() {
        return descriptor;
    }

    @Override
    public byte[] statsJson() {
        return ("{\"vm\":\"" + name.replace("\\", "\\\\").replace("\"", "\\\"") + "\",\"size\":" + disk.size()
                + ",\"reads\":" + disk.reads.sum() + ",\"readBytes\":" + disk.readBytes.sum()
                + ",\"writes\":" + disk.writes.sum() + ",\"writeBytes\":" + disk.writeBytes.sum()
                + ",\"flushes\":" + disk.flushes.sum() + "}\n").getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String describe() {
        return "vm " + name + ": " + disk.next().describe() + ", " + disk.size() + " bytes, " + files.size() + " names";
    }

    /** Counts requests without locks, so the stats file has something live to show. */
    private static final class Counting extends ForwardingBlockDevice<FileBlockDevice> {
        final LongAdder reads = new LongAdder();
        final LongAdder readBytes = new LongAdder();
        final LongAdder writes = new LongAdder();
        final LongAdder writeBytes = new LongAdder();
        final LongAdder flushes = new LongAdder();

        Counting(FileBlockDevice inner) {
            super(inner);
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            reads.increment();
            readBytes.add(dst.remaining());
            next.read(offset, dst);
        }

        @Override
        public void write(long offset, ByteBuffer src) throws IOException {
            writes.increment();
            writeBytes.add(src.remaining());
            next.write(offset, src);
        }

        @Override
        public void flush() throws IOException {
            flushes.increment();
            next.flush();
        }
    }
}
