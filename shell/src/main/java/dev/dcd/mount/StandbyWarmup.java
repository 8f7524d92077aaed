package dev.dcd.mount;

import dev.dcd.block.MemoryBlockDevice;
import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a standby server does while it waits to take over: it runs {@link LowLevelFs} on the request kinds a
 * mount sees most, over a small memory disk of its own, so that the classes are loaded and the hot paths
 * compiled before the first real request arrives. Nothing here touches the mount or its disk.
 */
final class StandbyWarmup {
    private static final int DISK_BYTES = 4 << 20;
    private static final long FILE_ID = 12;
    private static final long DIR_ID = 2;

    private StandbyWarmup() {
    }

    /** Runs {@code rounds} of LOOKUP, GETATTR, OPEN, READ, READDIRPLUS, WRITE and FSYNC; returns requests answered. */
    static int run(int rounds) throws IOException {
        Path idx = Files.createTempFile("dcd-warmup", ".idx");
        try {
            try (FileIndex.Writer w = new FileIndex.Writer(idx, DISK_BYTES)) {
                w.add(new FileIndex.Node("", FileIndex.Kind.DIRECTORY, 0755, 0, 0, 0, 0, 0, 2, DIR_ID, "", new long[0]));
                w.add(new FileIndex.Node("f", FileIndex.Kind.FILE, 0644, 0, 0, 0, 0, 1 << 20, 1, FILE_ID, "",
                        new long[] {4096, 1 << 19, 2 << 20, 1 << 19}));
            }
            FileIndex index = FileIndex.load(idx);
            MemoryBlockDevice disk = new MemoryBlockDevice(new byte[DISK_BYTES], true);
            MountSource source = new MountSource() {
                @Override
                public dev.dcd.block.BlockDevice disk() {
                    return disk;
                }

                @Override
                public FileIndex files() {
                    return index;
                }

                @Override
                public String vmdkDescriptor() {
                    return "";
                }

                @Override
                public byte[] statsJson() {
                    return "{}".getBytes(StandardCharsets.UTF_8);
                }

                @Override
                public String describe() {
                    return "warm-up";
                }
            };
            LowLevelFs fs = new LowLevelFs(source, true, 0, 0, new PrintStream(OutputStream.nullOutputStream()));
            FuseDevice.Buffer in = new FuseDevice.Buffer(FuseWire.REQUEST_BUFFER_BYTES);
            FuseDevice.Buffer out = new FuseDevice.Buffer(FuseWire.REPLY_BUFFER_BYTES);
            int answered = 0;
            byte[] name = "f\0".getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < rounds; i++) {
                answered += call(fs, in, out, FuseWire.LOOKUP, DIR_ID, name.length, b -> b.put(FuseWire.IN_HEADER_BYTES, name));
                answered += call(fs, in, out, FuseWire.GETATTR, FILE_ID, 16, b -> { });
                answered += call(fs, in, out, FuseWire.OPEN, FILE_ID, 8, b -> b.putInt(FuseWire.IN_HEADER_BYTES, 0));
                long offset = (i * 131072L) % (1 << 20);
                answered += call(fs, in, out, FuseWire.READ, FILE_ID, FuseWire.RW_IN_BYTES, b -> rw(b, FILE_ID, offset, 16384));
                answered += call(fs, in, out, FuseWire.READ, DcdFuse.INO_DISK, FuseWire.RW_IN_BYTES,
                        b -> rw(b, LowLevelFs.FH_DISK, offset, 16384));
                answered += call(fs, in, out, FuseWire.READDIRPLUS, DIR_ID, FuseWire.RW_IN_BYTES, b -> rw(b, 0, 0, 4096));
                answered += call(fs, in, out, FuseWire.WRITE, DcdFuse.INO_DISK, FuseWire.RW_IN_BYTES + 4096,
                        b -> rw(b, LowLevelFs.FH_DISK, offset, 4096));
                answered += call(fs, in, out, FuseWire.FSYNC, DcdFuse.INO_DISK, 16, b -> { });
            }
            return answered;
        } finally {
            Files.deleteIfExists(idx);
        }
    }

    private static void rw(ByteBuffer b, long fh, long offset, int size) {
        int at = FuseWire.IN_HEADER_BYTES;
        b.putLong(at + FuseWire.RW_FH, fh).putLong(at + FuseWire.RW_OFFSET, offset).putInt(at + FuseWire.RW_SIZE, size);
    }

    private interface Body {
        void put(ByteBuffer b);
    }

    private static int call(LowLevelFs fs, FuseDevice.Buffer in, FuseDevice.Buffer out, int opcode, long node,
                            int bodyBytes, Body body) {
        ByteBuffer b = in.bytes;
        b.putInt(FuseWire.IN_LEN, FuseWire.IN_HEADER_BYTES + bodyBytes).putInt(FuseWire.IN_OPCODE, opcode)
                .putLong(FuseWire.IN_UNIQUE, 2).putLong(FuseWire.IN_NODEID, node);
        body.put(b);
        return fs.handle(b, out.bytes) > 0 ? 1 : 0;
    }
}
