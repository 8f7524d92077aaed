package dev.dcd.mount;

import dev.dcd.block.ForwardingBlockDevice;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.MemoryBlockDevice;
import dev.dcd.synth.FileIndex;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DcdFuse's callbacks, called directly as libfuse would, over a memory disk and a hand-built index. */
class DcdFuseTest {
    private static final Runtime RT = Runtime.getSystemRuntime();
    private static final int DISK_SIZE = MountFixture.DISK_SIZE;
    private static final int O_RDONLY = 0;
    private static final int O_WRONLY = 1;
    private static final int O_RDWR = 2;

    @TempDir
    Path tmp;

    private byte[] bytes;
    private MemoryBlockDevice device;
    private ByteArrayOutputStream logBytes;
    private DcdFuse fuse;
    private final AtomicInteger flushes = new AtomicInteger();
    private final AtomicInteger statsCalls = new AtomicInteger();

    /** The tree of {@link MountFixture#writeIndex}, plus an empty file "empty". */
    @BeforeEach
    void setUp() throws IOException {
        bytes = MountFixture.patternedDisk();
        device = new MemoryBlockDevice(bytes, true);
        FileIndex index = MountFixture.writeIndex(tmp.resolve("files.idx"),
                MountFixture.node("empty", FileIndex.Kind.FILE, 0600, 0, 1, 16, "", new long[0]));
        logBytes = new ByteArrayOutputStream();
        fuse = new DcdFuse(new TestSource(counting(device), index), true, 1000, 1000,
                new PrintStream(logBytes, true, StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- attributes

    @Test
    void diskImageIsARegularFileOfTheDiskSizeOwnedByTheMountingUser() {
        FileStat st = stat();
        assertEquals(0, fuse.getattr("/disk.img", st));
        assertEquals(DcdFuse.S_IFREG | 0644, st.st_mode.intValue());
        assertEquals(DISK_SIZE, st.st_size.longValue());
        assertEquals(1000, st.st_uid.longValue());
    }

    @Test
    void filesShowTypeModeOwnerSizeLinksMtimeAndTheFileIdAsInode() {
        FileStat st = stat();
        assertEquals(0, fuse.getattr("/files/dir/big", st));
        assertEquals(DcdFuse.S_IFREG | 0640, st.st_mode.intValue());
        assertEquals(8000, st.st_size.longValue());
        assertEquals(0, st.st_uid.longValue());
        assertEquals(100, st.st_gid.longValue());
        assertEquals(1, st.st_nlink.intValue());
        assertEquals(1_700_000_000L, st.st_mtim.tv_sec.longValue());
        assertEquals(5, st.st_mtim.tv_nsec.longValue());
        assertEquals(13, st.st_ino.longValue());

        FileStat dir = stat();
        assertEquals(0, fuse.getattr("/files", dir));
        assertEquals(DcdFuse.S_IFDIR | 0755, dir.st_mode.intValue());
        assertEquals(2, dir.st_ino.longValue());

        FileStat link = stat();
        assertEquals(0, fuse.getattr("/files/link", link));
        assertEquals(DcdFuse.S_IFLNK | 0777, link.st_mode.intValue());
    }

    @Test
    void hardlinkedNamesShareOneInodeAndCountTheirLinks() {
        FileStat a = stat();
        FileStat b = stat();
        fuse.getattr("/files/hello", a);
        fuse.getattr("/files/hello-again", b);
        assertEquals(a.st_ino.longValue(), b.st_ino.longValue());
        assertEquals(2, a.st_nlink.intValue());
    }

    @Test
    void unknownNamesAreENOENT() {
        assertEquals(-ErrorCodes.ENOENT(), fuse.getattr("/nope", stat()));
        assertEquals(-ErrorCodes.ENOENT(), fuse.getattr("/files/dir/nope", stat()));
        assertEquals(-ErrorCodes.ENOENT(), fuse.open("/files/nope", info(O_RDONLY)));
        assertEquals(-ErrorCodes.ENOENT(), fuse.readdir("/files/nope", null, collector(new ArrayList<>()), 0, info(O_RDONLY)));
    }

    // ---------------------------------------------------------------- names

    @Test
    void rootListsTheFourEntriesWithDotAndDotDot() {
        List<String> names = new ArrayList<>();
        assertEquals(0, fuse.readdir("/", null, collector(names), 0, info(O_RDONLY)));
        assertEquals(List.of(".", "..", "disk.img", "disk.vmdk", "stats.json", "files"), names);
    }

    @Test
    void directoriesUnderFilesListTheirChildrenInIndexOrder() {
        List<String> names = new ArrayList<>();
        assertEquals(0, fuse.readdir("/files", null, collector(names), 0, info(O_RDONLY)));
        assertEquals(List.of(".", "..", "dir", "hello", "hello-again", "link", "empty"), names);
        names.clear();
        assertEquals(0, fuse.readdir("/files/dir", null, collector(names), 0, info(O_RDONLY)));
        assertEquals(List.of(".", "..", "big"), names);
    }

    @Test
    void listingAFileIsENOTDIRAndOpeningADirectoryIsEISDIR() {
        assertEquals(-ErrorCodes.ENOTDIR(), fuse.readdir("/files/hello", null, collector(new ArrayList<>()), 0, info(O_RDONLY)));
        assertEquals(-ErrorCodes.ENOTDIR(), fuse.opendir("/disk.img", info(O_RDONLY)));
        assertEquals(-ErrorCodes.EISDIR(), fuse.open("/files/dir", info(O_RDONLY)));
    }

    @Test
    void readlinkReturnsTheTargetNulTerminatedAndTruncatesToTheBuffer() {
        Pointer buf = Memory.allocateDirect(RT, 64, true);
        assertEquals(0, fuse.readlink("/files/link", buf, 64));
        assertEquals("dir/big", buf.getString(0));
        Pointer small = Memory.allocateDirect(RT, 4, true);
        assertEquals(0, fuse.readlink("/files/link", small, 4));
        assertEquals("dir", small.getString(0));
        assertEquals(-ErrorCodes.EINVAL(), fuse.readlink("/files/hello", buf, 64));
    }

    // ---------------------------------------------------------------- reading files/

    @Test
    void aReadSpanningTwoExtentsJoinsThemInFileOrder() {
        FuseFileInfo fi = info(O_RDONLY);
        assertEquals(0, fuse.open("/files/dir/big", fi));
        byte[] expected = new byte[8000];
        System.arraycopy(bytes, 8192, expected, 0, 5000);
        System.arraycopy(bytes, 65536, expected, 5000, 3000);

        assertArrayEquals(expected, read("/files/dir/big", fi, 0, 131072));
        assertArrayEquals(Arrays.copyOfRange(expected, 4990, 5020), read("/files/dir/big", fi, 4990, 30));
        assertArrayEquals(Arrays.copyOfRange(expected, 5000, 5100), read("/files/dir/big", fi, 5000, 100));
        assertArrayEquals(Arrays.copyOfRange(expected, 7990, 8000), read("/files/dir/big", fi, 7990, 4096));
        assertEquals(0, read("/files/dir/big", fi, 8000, 4096).length);
        assertEquals(0, fuse.release("/files/dir/big", fi));
    }

    @Test
    void filesAreKeptInThePageCacheAndStatsAreReadDirectly() {
        FuseFileInfo file = info(O_RDONLY);
        fuse.open("/files/hello", file);
        assertEquals(2, bitfield(file) & 3);
        FuseFileInfo stats = info(O_RDONLY);
        fuse.open("/stats.json", stats);
        assertEquals(1, bitfield(stats) & 3);
        FuseFileInfo disk = info(O_RDWR);
        fuse.open("/disk.img", disk);
        assertEquals(0, bitfield(disk) & 3);
    }

    @Test
    void anEmptyFileReadsAsEndOfFile() {
        FuseFileInfo fi = info(O_RDONLY);
        assertEquals(0, fuse.open("/files/empty", fi));
        assertEquals(0, read("/files/empty", fi, 0, 4096).length);
    }

    @Test
    void aFailingDeviceBecomesEIOAndTheLogNamesThePathAndCause() throws IOException {
        BlockDevice broken = new BlockDevice() {
            @Override
            public long size() {
                return DISK_SIZE;
            }

            @Override
            public Capabilities capabilities() {
                return Capabilities.READ_ONLY;
            }

            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                throw new IOException("backend s3://bucket/x unreachable");
            }
        };
        DcdFuse failing = new DcdFuse(new TestSource(broken, FileIndex.load(tmp.resolve("files.idx"))), true, 0, 0,
                new PrintStream(logBytes, true, StandardCharsets.UTF_8));
        FuseFileInfo fi = info(O_RDONLY);
        assertEquals(0, failing.open("/files/hello", fi));
        Pointer buf = Memory.allocateDirect(RT, 4096, true);
        assertEquals(-ErrorCodes.EIO(), failing.read("/files/hello", buf, 4096, 0, fi));
        String log = logBytes.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("/files/hello") && log.contains("backend s3://bucket/x unreachable"), log);
        assertEquals(-ErrorCodes.EROFS(), failing.open("/disk.img", info(O_WRONLY)));
    }

    // ---------------------------------------------------------------- the raw disk

    @Test
    void diskImageReadsAndWritesGoStraightToTheDevice() {
        FuseFileInfo fi = info(O_RDWR);
        assertEquals(0, fuse.open("/disk.img", fi));
        assertArrayEquals(Arrays.copyOfRange(bytes, 12345, 12345 + 131072), read("/disk.img", fi, 12345, 131072));

        Pointer src = Memory.allocateDirect(RT, 3, true);
        src.put(0, new byte[] {7, 8, 9}, 0, 3);
        assertEquals(3, fuse.write("/disk.img", src, 3, 500_000, fi));
        assertArrayEquals(new byte[] {7, 8, 9}, Arrays.copyOfRange(bytes, 500_000, 500_003));
        assertEquals(0, fuse.fsync("/disk.img", 0, fi));
        assertEquals(1, flushes.get());
    }

    @Test
    void diskImageEndsAtTheDiskSize() {
        FuseFileInfo fi = info(O_RDWR);
        fuse.open("/disk.img", fi);
        assertEquals(10, read("/disk.img", fi, DISK_SIZE - 10, 4096).length);
        assertEquals(0, read("/disk.img", fi, DISK_SIZE, 4096).length);
        Pointer src = Memory.allocateDirect(RT, 16, true);
        assertEquals(6, fuse.write("/disk.img", src, 16, DISK_SIZE - 6, fi));
        assertEquals(-ErrorCodes.ENOSPC(), fuse.write("/disk.img", src, 16, DISK_SIZE, fi));
    }

    @Test
    void diskImageCannotBeResizedButASameSizeTruncateSucceeds() {
        assertEquals(0, fuse.truncate("/disk.img", DISK_SIZE));
        assertEquals(-ErrorCodes.EPERM(), fuse.truncate("/disk.img", 0));
        assertEquals(-ErrorCodes.EPERM(), fuse.truncate("/disk.img", DISK_SIZE + 4096L));
    }

    // ---------------------------------------------------------------- read-only parts

    @Test
    void filesAndDescriptorsRefuseChangesWithEROFS() {
        assertEquals(-ErrorCodes.EROFS(), fuse.open("/files/hello", info(O_WRONLY)));
        assertEquals(-ErrorCodes.EROFS(), fuse.open("/files/hello", info(O_RDWR)));
        assertEquals(-ErrorCodes.EROFS(), fuse.truncate("/files/hello", 0));
        assertEquals(-ErrorCodes.EROFS(), fuse.mkdir("/files/new", 0755));
        assertEquals(-ErrorCodes.EROFS(), fuse.create("/files/new", 0644, info(O_WRONLY)));
        assertEquals(-ErrorCodes.EROFS(), fuse.unlink("/files/hello"));
        assertEquals(-ErrorCodes.EROFS(), fuse.rename("/files/hello", "/files/x"));
        assertEquals(-ErrorCodes.EROFS(), fuse.chmod("/files/hello", 0777));
        assertEquals(-ErrorCodes.EROFS(), fuse.open("/disk.vmdk", info(O_WRONLY)));
        assertEquals(-ErrorCodes.EROFS(), fuse.open("/stats.json", info(O_RDWR)));
        assertEquals(-ErrorCodes.EROFS(), fuse.truncate("/disk.vmdk", 0));
        assertEquals(-ErrorCodes.EPERM(), fuse.unlink("/disk.img"));
        assertEquals(-ErrorCodes.EPERM(), fuse.create("/other", 0644, info(O_WRONLY)));
    }

    @Test
    void theDescriptorReadsAsTheSourceGaveIt() {
        FileStat st = stat();
        fuse.getattr("/disk.vmdk", st);
        assertEquals(DcdFuse.S_IFREG | 0444, st.st_mode.intValue());
        FuseFileInfo fi = info(O_RDONLY);
        assertEquals(0, fuse.open("/disk.vmdk", fi));
        assertEquals(TestSource.DESCRIPTOR, new String(read("/disk.vmdk", fi, 0, 4096), StandardCharsets.UTF_8));
        assertEquals(st.st_size.longValue(), TestSource.DESCRIPTOR.length());
    }

    @Test
    void statsAreSnapshottedAtOpenSoOneReaderSeesOneDocument() {
        FuseFileInfo first = info(O_RDONLY);
        assertEquals(0, fuse.open("/stats.json", first));
        FuseFileInfo second = info(O_RDONLY);
        assertEquals(0, fuse.open("/stats.json", second));
        String a = new String(read("/stats.json", first, 0, 4096), StandardCharsets.UTF_8);
        String b = new String(read("/stats.json", second, 0, 4096), StandardCharsets.UTF_8);
        assertEquals("{\"snapshot\":1}", a);
        assertEquals("{\"snapshot\":2}", b);
        assertEquals("snapshot\":1}", new String(read("/stats.json", first, 2, 4096), StandardCharsets.UTF_8));
        fuse.release("/stats.json", first);
        assertEquals(-ErrorCodes.EBADF(), fuse.read("/stats.json", Memory.allocateDirect(RT, 16), 16, 0, first));
    }

    // ---------------------------------------------------------------- helpers

    private byte[] read(String path, FuseFileInfo fi, long offset, int size) {
        Pointer buf = Memory.allocateDirect(RT, size, true);
        int n = fuse.read(path, buf, size, offset, fi);
        assertTrue(n >= 0, "read " + path + " returned " + n);
        byte[] out = new byte[n];
        buf.get(0, out, 0, n);
        return out;
    }

    private static FileStat stat() {
        return FileStat.of(Memory.allocateDirect(RT, 256, true));
    }

    private static FuseFileInfo info(int flags) {
        FuseFileInfo fi = FuseFileInfo.of(Memory.allocateDirect(RT, 64, true));
        fi.flags.set(flags);
        return fi;
    }

    /** The fuse_file_info bitfield word: byte 20 on LP64 (int flags, pad, unsigned long fh_old, int writepage). */
    private static int bitfield(FuseFileInfo fi) {
        assertEquals(24, fi.fh.offset(), "libfuse 2.9 puts fh at byte 24");
        return jnr.ffi.Struct.getMemory(fi).getInt(20);
    }

    private static FuseFillDir collector(List<String> names) {
        return (buf, name, stbuf, off) -> {
            byte[] b = new byte[name.remaining()];
            name.get(b);
            int len = 0;
            while (len < b.length && b[len] != 0) {
                len++;
            }
            names.add(new String(b, 0, len, StandardCharsets.UTF_8));
            return 0;
        };
    }

    /** The device as it is, except that a flush is only counted. */
    private BlockDevice counting(MemoryBlockDevice inner) {
        return new ForwardingBlockDevice<>(inner) {
            @Override
            public void flush() {
                flushes.incrementAndGet();
            }
        };
    }

    private final class TestSource implements MountSource {
        static final String DESCRIPTOR = "# Disk DescriptorFile\nversion=1\n";
        private final BlockDevice disk;
        private final FileIndex index;

        TestSource(BlockDevice disk, FileIndex index) {
            this.disk = disk;
            this.index = index;
        }

        @Override
        public BlockDevice disk() {
            return disk;
        }

        @Override
        public FileIndex files() {
            return index;
        }

        @Override
        public String vmdkDescriptor() {
            return DESCRIPTOR;
        }

        @Override
        public byte[] statsJson() {
            return ("{\"snapshot\":" + statsCalls.incrementAndGet() + "}").getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String describe() {
            return "test source";
        }
    }
}
