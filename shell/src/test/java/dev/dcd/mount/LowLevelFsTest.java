package dev.dcd.mount;

import dev.dcd.block.MemoryBlockDevice;
import dev.dcd.synth.FileIndex;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LowLevelFs answers kernel FUSE requests built byte by byte as fuse.h lays them out, over a memory disk and a
 * hand-built index; a second instance stands for a restarted server process.
 */
class LowLevelFsTest {
    private static final int DISK_SIZE = MountFixture.DISK_SIZE;
    private static final int EPERM = 1;
    private static final int ENOENT = 2;
    private static final int EIO = 5;
    private static final int EROFS = 30;
    private static final int ENOSYS = 38;

    @TempDir
    Path tmp;

    private byte[] bytes;
    private MemoryBlockDevice device;
    private FileIndex index;
    private LowLevelFs fs;
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    /** The tree of {@link MountFixture#writeIndex}. */
    @BeforeEach
    void setUp() throws IOException {
        bytes = MountFixture.patternedDisk();
        device = new MemoryBlockDevice(bytes, true);
        index = MountFixture.writeIndex(tmp.resolve("files.idx"));
        fs = newServer();
    }

    private LowLevelFs newServer() {
        return new LowLevelFs(new FileMountSourceLike(device, index), true, 1000, 1000,
                new PrintStream(log, true, StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- INIT

    @Test
    void initNegotiatesOneMebibyteRequestsAndOnlyFlagsTheKernelOffered() {
        long offered = FuseWire.ASYNC_READ | FuseWire.BIG_WRITES | FuseWire.MAX_PAGES | (1L << 3);
        ByteBuffer body = body(64);
        body.putInt(FuseWire.INIT_IN_MAJOR, 7).putInt(FuseWire.INIT_IN_MINOR, 45)
                .putInt(FuseWire.INIT_IN_MAX_READAHEAD, 131072).putInt(FuseWire.INIT_IN_FLAGS, (int) offered);
        Reply r = call(fs, FuseWire.INIT, 0, body);
        assertEquals(0, r.error);
        assertEquals(FuseWire.OUT_HEADER_BYTES + FuseWire.INIT_OUT_BYTES, r.length);
        assertEquals(7, r.body.getInt(FuseWire.INIT_OUT_MAJOR));
        assertEquals(1 << 20, r.body.getInt(FuseWire.INIT_OUT_MAX_WRITE));
        assertEquals(256, r.body.getShort(FuseWire.INIT_OUT_MAX_PAGES));
        assertEquals(131072, r.body.getInt(FuseWire.INIT_OUT_MAX_READAHEAD));
        assertEquals(FuseWire.ASYNC_READ | FuseWire.BIG_WRITES | FuseWire.MAX_PAGES,
                r.body.getInt(FuseWire.INIT_OUT_FLAGS) & 0xffffffffL, "nothing the kernel did not offer");
    }

    // ---------------------------------------------------------------- names

    @Test
    void lookupGivesTheIndexFileIdAsNodeIdAndHardlinksShareIt() {
        long files = lookup(fs, FuseWire.ROOT_ID, "files");
        assertEquals(2, files, "the files/ root is the index root's file id");
        long dir = lookup(fs, files, "dir");
        assertEquals(12, dir);
        assertEquals(13, lookup(fs, dir, "big"));
        assertEquals(lookup(fs, files, "hello"), lookup(fs, files, "hello-again"));
        assertEquals(DcdFuse.INO_DISK, lookup(fs, FuseWire.ROOT_ID, "disk.img"));
    }

    @Test
    void aMissingNameIsANegativeEntryTheKernelMayCache() {
        Reply r = call(fs, FuseWire.LOOKUP, FuseWire.ROOT_ID, name("nothing"));
        assertEquals(0, r.error);
        assertEquals(0, r.body.getLong(FuseWire.ENTRY_NODEID));
        assertTrue(r.body.getLong(FuseWire.ENTRY_VALID) > 0);
    }

    @Test
    void getattrShowsModeSizeOwnerLinksAndMtime() {
        Reply r = call(fs, FuseWire.GETATTR, 13, body(16));
        assertEquals(0, r.error);
        int a = FuseWire.ATTR_OUT_ATTR;
        assertEquals(DcdFuse.S_IFREG | 0640, r.body.getInt(a + FuseWire.ATTR_MODE));
        assertEquals(8000, r.body.getLong(a + FuseWire.ATTR_SIZE));
        assertEquals(100, r.body.getInt(a + FuseWire.ATTR_GID));
        assertEquals(1_700_000_000L, r.body.getLong(a + FuseWire.ATTR_MTIME));
        assertEquals(5, r.body.getInt(a + FuseWire.ATTR_MTIMENSEC));
        Reply disk = call(fs, FuseWire.GETATTR, DcdFuse.INO_DISK, body(16));
        assertEquals(DISK_SIZE, disk.body.getLong(a + FuseWire.ATTR_SIZE));
        assertEquals(1000, disk.body.getInt(a + FuseWire.ATTR_UID));
        assertEquals(-ENOENT, call(fs, FuseWire.GETATTR, 999, body(16)).error);
    }

    @Test
    void readdirListsDotsAndNamesAndResumesAtTheOffsetItGave() {
        List<String> all = readdir(fs, FuseWire.ROOT_ID, 0, 4096);
        assertEquals(List.of(".", "..", "disk.img", "disk.vmdk", "stats.json", "files"), all);
        assertEquals(List.of("stats.json", "files"), readdir(fs, FuseWire.ROOT_ID, 4, 4096));
        assertEquals(List.of(".", "..", "dir", "hello", "hello-again", "link"), readdir(fs, 2, 0, 4096));
        assertEquals(List.of("."), readdir(fs, 2, 0, 32), "only what fits in the kernel's buffer");
    }

    @Test
    void readlinkGivesTheTargetWithoutTerminator() {
        Reply r = call(fs, FuseWire.READLINK, 15, body(0));
        assertEquals("dir/big", new String(r.data(), StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- a restarted server

    @Test
    void anotherServerProcessReadsThroughTheNodeIdsAndHandlesTheFirstHandedOut() {
        long dir = lookup(fs, lookup(fs, FuseWire.ROOT_ID, "files"), "dir");
        long big = lookup(fs, dir, "big");
        Reply open = call(fs, FuseWire.OPEN, big, body(8));
        long fh = open.body.getLong(FuseWire.OPEN_OUT_FH);
        assertEquals(FuseWire.FOPEN_KEEP_CACHE, open.body.getInt(FuseWire.OPEN_OUT_FLAGS));

        LowLevelFs restarted = newServer(); // no lookup, no open: only what the kernel still holds
        Reply read = call(restarted, FuseWire.READ, big, readIn(fh, 4000, 4096));
        byte[] expected = new byte[4096];
        System.arraycopy(bytes, 8192 + 4000, expected, 0, 1000);   // the rest of the first extent
        System.arraycopy(bytes, 65536, expected, 1000, 3000);      // the second extent, to the file's end
        assertEquals(4000, read.data().length, "ends at the file size");
        assertArrayEquals(Arrays.copyOf(expected, 4000), read.data());
        assertEquals(0, call(restarted, FuseWire.READ, big, readIn(fh, 8000, 4096)).data().length, "EOF");
    }

    @Test
    void aWriteAnsweredTwiceAfterAResendLeavesTheSameBytes() {
        byte[] payload = new byte[8192];
        Arrays.fill(payload, (byte) 0x5a);
        ByteBuffer write = writeIn(LowLevelFs.FH_DISK, 12288, payload);
        Reply first = call(fs, FuseWire.WRITE, DcdFuse.INO_DISK, write);
        byte[] after = bytes.clone();
        Reply again = call(newServer(), FuseWire.WRITE, DcdFuse.INO_DISK, write);
        assertEquals(8192, first.body.getInt(FuseWire.WRITE_OUT_SIZE));
        assertEquals(8192, again.body.getInt(FuseWire.WRITE_OUT_SIZE));
        assertArrayEquals(after, bytes);
        assertArrayEquals(payload, Arrays.copyOfRange(bytes, 12288, 12288 + 8192));
    }

    @Test
    void aOneMebibyteReadIsAnsweredInOneReply() {
        Reply r = call(fs, FuseWire.READ, DcdFuse.INO_DISK, readIn(LowLevelFs.FH_DISK, 0, 1 << 20));
        assertArrayEquals(bytes, r.data());
    }

    @Test
    void aBackendFailureIsEioWithOneLogLineNamingTheFileAsTheLibfusePathDoes() {
        var failing = new dev.dcd.block.ForwardingBlockDevice<>(device) {
            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                throw new IOException("backend 'nas' did not answer within 3000 ms");
            }
        };
        LowLevelFs broken = new LowLevelFs(new FileMountSourceLike(failing, index), true, 1000, 1000,
                new PrintStream(log, true, StandardCharsets.UTF_8));
        long dir = lookup(broken, lookup(broken, FuseWire.ROOT_ID, "files"), "dir");
        long big = lookup(broken, dir, "big");
        long fh = call(broken, FuseWire.OPEN, big, body(8)).body.getLong(FuseWire.OPEN_OUT_FH);
        assertEquals(-EIO, call(broken, FuseWire.READ, big, readIn(fh, 0, 4096)).error);
        assertEquals("dcd-fuse: read /files/dir/big at 0+4096 failed, returning EIO: java.io.IOException: backend 'nas'"
                + " did not answer within 3000 ms\n", log.toString(StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- refusals

    @Test
    void changesAreRefusedAsUnderLibfuse() {
        assertEquals(-EROFS, call(fs, FuseWire.WRITE, 13, writeIn(13, 0, new byte[10])).error);
        assertEquals(-EROFS, call(fs, FuseWire.OPEN, 13, openIn(1)).error);
        assertEquals(-EROFS, call(fs, FuseWire.UNLINK, 2, name("hello")).error);
        assertEquals(-EPERM, call(fs, FuseWire.UNLINK, FuseWire.ROOT_ID, name("disk.img")).error);
        assertEquals(-EPERM, call(fs, FuseWire.MKDIR, FuseWire.ROOT_ID, withName(body(8), "new")).error);
        ByteBuffer truncate = body(88);
        truncate.putInt(FuseWire.SETATTR_VALID, FuseWire.FATTR_SIZE).putLong(FuseWire.SETATTR_SIZE, 4096);
        assertEquals(-EPERM, call(fs, FuseWire.SETATTR, DcdFuse.INO_DISK, truncate).error);
        truncate.putLong(FuseWire.SETATTR_SIZE, DISK_SIZE);
        assertEquals(0, call(fs, FuseWire.SETATTR, DcdFuse.INO_DISK, truncate).error, "the same size is a no-op");
        assertEquals(-ENOSYS, call(fs, 4242, FuseWire.ROOT_ID, body(0)).error);
    }

    @Test
    void flushIsNotImplementedSoTheKernelStopsSendingItOnClose() {
        // Writes reach the disk before they are answered; a FLUSH would be an empty round trip on every close.
        assertEquals(-ENOSYS, call(fs, FuseWire.FLUSH, DcdFuse.INO_DISK, body(24)).error);
        assertEquals(-ENOSYS, call(fs, FuseWire.FLUSH, 13, body(24)).error);
    }

    @Test
    void forgetAndInterruptTakeNoReply() {
        assertEquals(0, fs.handle(request(FuseWire.FORGET, 13, body(8)), out()));
        assertEquals(0, fs.handle(request(FuseWire.INTERRUPT, 0, body(8)), out()));
    }

    // ---------------------------------------------------------------- plumbing

    private record Reply(int length, int error, ByteBuffer body) {
        byte[] data() {
            byte[] b = new byte[length - FuseWire.OUT_HEADER_BYTES];
            body.get(0, b);
            return b;
        }
    }

    private static ByteBuffer body(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer name(String name) {
        return withName(body(0), name);
    }

    private static ByteBuffer withName(ByteBuffer before, String name) {
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = body(before.capacity() + utf8.length + 1);
        b.put(0, before.array()).put(before.capacity(), utf8);
        return b;
    }

    private static ByteBuffer openIn(int flags) {
        ByteBuffer b = body(8);
        b.putInt(FuseWire.OPEN_IN_FLAGS, flags);
        return b;
    }

    private static ByteBuffer readIn(long fh, long offset, int size) {
        ByteBuffer b = body(FuseWire.RW_IN_BYTES);
        b.putLong(FuseWire.RW_FH, fh).putLong(FuseWire.RW_OFFSET, offset).putInt(FuseWire.RW_SIZE, size);
        return b;
    }

    private static ByteBuffer writeIn(long fh, long offset, byte[] data) {
        ByteBuffer b = body(FuseWire.RW_IN_BYTES + data.length);
        b.putLong(FuseWire.RW_FH, fh).putLong(FuseWire.RW_OFFSET, offset).putInt(FuseWire.RW_SIZE, data.length);
        b.put(FuseWire.RW_IN_BYTES, data);
        return b;
    }

    private static ByteBuffer request(int opcode, long nodeId, ByteBuffer body) {
        int length = FuseWire.IN_HEADER_BYTES + body.capacity();
        ByteBuffer in = ByteBuffer.allocateDirect(FuseWire.REQUEST_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        in.putInt(FuseWire.IN_LEN, length).putInt(FuseWire.IN_OPCODE, opcode).putLong(FuseWire.IN_UNIQUE, 77)
                .putLong(FuseWire.IN_NODEID, nodeId);
        in.put(FuseWire.IN_HEADER_BYTES, body.array());
        return in;
    }

    private static ByteBuffer out() {
        return ByteBuffer.allocateDirect(FuseWire.REPLY_BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static Reply call(LowLevelFs fs, int opcode, long nodeId, ByteBuffer body) {
        ByteBuffer out = out();
        int length = fs.handle(request(opcode, nodeId, body), out);
        assertEquals(length, out.getInt(FuseWire.OUT_LEN));
        assertEquals(77, out.getLong(FuseWire.OUT_UNIQUE), "the reply names the request");
        return new Reply(length, out.getInt(FuseWire.OUT_ERROR),
                out.slice(FuseWire.OUT_HEADER_BYTES, out.capacity() - FuseWire.OUT_HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN));
    }

    private static long lookup(LowLevelFs fs, long parent, String name) {
        Reply r = call(fs, FuseWire.LOOKUP, parent, name(name));
        assertEquals(0, r.error, name);
        assertEquals(FuseWire.OUT_HEADER_BYTES + FuseWire.ENTRY_BYTES, r.length);
        assertEquals(r.body.getLong(FuseWire.ENTRY_NODEID), r.body.getLong(FuseWire.ENTRY_ATTR + FuseWire.ATTR_INO));
        return r.body.getLong(FuseWire.ENTRY_NODEID);
    }

    private static List<String> readdir(LowLevelFs fs, long dir, long offset, int size) {
        Reply r = call(fs, FuseWire.READDIR, dir, readIn(0, offset, size));
        assertEquals(0, r.error);
        List<String> names = new ArrayList<>();
        int at = 0;
        while (at < r.length - FuseWire.OUT_HEADER_BYTES) {
            int len = r.body.getInt(at + FuseWire.DIRENT_NAMELEN);
            byte[] n = new byte[len];
            r.body.get(at + FuseWire.DIRENT_NAME, n);
            names.add(new String(n, StandardCharsets.UTF_8));
            at += FuseWire.direntSize(len);
        }
        return names;
    }

    /** The smallest MountSource over a device and an index. */
    private record FileMountSourceLike(dev.dcd.block.BlockDevice disk, FileIndex files) implements MountSource {
        @Override
        public String vmdkDescriptor() {
            return "# Disk DescriptorFile\n";
        }

        @Override
        public byte[] statsJson() {
            return "{}".getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String describe() {
            return "test";
        }
    }
}
