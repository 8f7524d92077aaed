package dev.dcd.synth.ext4;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.FsNode;
import dev.dcd.synth.Gpt;
import dev.dcd.synth.MergedTree;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.synth.SynthesisException;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.ThinImage;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * One synthesis run. Two passes over the merged tree in the same depth-first order: the first numbers
 * inodes (so a directory's entries are known when it is written) and sizes the filesystem; the second
 * allocates blocks with a bump allocator and streams directory blocks, extent blocks and inode tables to
 * the thin image. Because both passes share the order, inodes are finished in increasing number and each
 * group's inode table is written once.
 */
final class Ext4Builder {
    static final int ROOT_INO = 2;
    static final int LOST_FOUND_INO = 11;
    static final String LOST_FOUND = "lost+found";
    /** mke2fs gives lost+found 16 KiB so e2fsck can reconnect files without allocating. */
    static final int LOST_FOUND_BLOCKS = 4;
    static final int FAST_SYMLINK_MAX = Inode.I_BLOCK_LEN - 1;
    static final int MAX_NAME = 255;
    /** dir_nlink: past this a directory's link count is 1, meaning "many". */
    static final int LINK_MAX = 65000;

    // struct ext4_group_desc (64 bytes with the 64bit feature).
    static final int BG_BLOCK_BITMAP = 0x00;
    static final int BG_INODE_BITMAP = 0x04;
    static final int BG_INODE_TABLE = 0x08;
    static final int BG_FREE_BLOCKS = 0x0C;
    static final int BG_FREE_INODES = 0x0E;
    static final int BG_USED_DIRS = 0x10;
    static final int BG_FLAGS = 0x12;
    static final int BG_BLOCK_BITMAP_CSUM = 0x18;
    static final int BG_INODE_BITMAP_CSUM = 0x1A;
    static final int BG_ITABLE_UNUSED = 0x1C;
    static final int BG_CHECKSUM = 0x1E;
    static final int BG_BLOCK_BITMAP_HI = 0x20;
    static final int BG_INODE_BITMAP_HI = 0x24;
    static final int BG_INODE_TABLE_HI = 0x28;
    static final int BG_FREE_BLOCKS_HI = 0x2C;
    static final int BG_FREE_INODES_HI = 0x2E;
    static final int BG_USED_DIRS_HI = 0x30;
    static final int BG_ITABLE_UNUSED_HI = 0x32;
    static final int BG_BLOCK_BITMAP_CSUM_HI = 0x38;
    static final int BG_INODE_BITMAP_CSUM_HI = 0x3A;
    static final int BG_INODE_UNINIT = 0x1;
    static final int BG_INODE_ZEROED = 0x4;

    // JBD2 superblock (big-endian), journal_superblock_t.
    static final int JBD2_MAGIC = 0xC03B3998;
    static final int JBD2_SUPERBLOCK_V2 = 4;
    static final int J_BLOCKTYPE = 0x4;
    static final int J_BLOCKSIZE = 0xC;
    static final int J_MAXLEN = 0x10;
    static final int J_FIRST = 0x14;
    static final int J_SEQUENCE = 0x18;
    static final int J_UUID = 0x30;
    static final int J_NR_USERS = 0x40;

    private static final int BS = Geometry.BLOCK_SIZE;

    private final DiskSpec spec;
    private final List<AppLayer> layers;
    private final Path dir;
    private final Progress progress;

    private MergedTree tree;
    private Gpt.Layout layout;
    private Geometry geo;
    private long partOffset;
    /** Each directory's entry names and inode numbers, from the numbering pass, in the order both passes visit. */
    private List<DirPlan> plans;
    private int nextPlan;
    /** Inode numbers of files with several names; every other node is numbered once and never looked up. */
    private final Map<FsNode.File, Integer> hardlinkInodes = new IdentityHashMap<>();
    private int lastIno;
    private long dataBlocksNeeded;
    private long metaBlocksNeeded;
    /** Block counts of the files with data, in layout order (each hardlinked file once): the data allocator's requests. */
    private long[] fileBlocks = new long[256];
    private int fileRequests;
    /** First block of the metadata zone: where the data allocator stops after the journal and every file. */
    private long metaStart;

    private ThinImage image;
    private RegionMapBuilder regions;
    private FileIndex.Writer index;
    private final List<Path> created = new ArrayList<>();
    /** The journal and file data, from the start of the partition. */
    private Allocator data;
    /** Directory, slow symlink and extent leaf blocks: one zone right behind the data, so they reach the image in few writes. */
    private Allocator meta;
    private MetaBlocks metaOut;
    private InodeTables tables;
    private int fsSeed;
    private int[] hashSeed;
    private int[] dirsPerGroup;
    private final Map<FsNode.File, long[]> hardlinkExtents = new IdentityHashMap<>();
    private long bytesLaidOut;
    private long appBytes;

    Ext4Builder(DiskSpec spec, List<AppLayer> layers, Path dir, Progress progress) {
        this.spec = spec;
        this.layers = layers;
        this.dir = dir;
        this.progress = progress;
    }

    void plan() throws IOException {
        tree = MergedTree.merge(layers);
        if (tree.root().children().containsKey(LOST_FOUND)) {
            throw new SynthesisException("an app provides /" + LOST_FOUND + ", which ext4 reserves for e2fsck");
        }
        plans = new ArrayList<>((int) Math.min(Integer.MAX_VALUE / 2, tree.directoryCount()));
        lastIno = LOST_FOUND_INO;
        metaBlocksNeeded = LOST_FOUND_BLOCKS + 1;
        number(tree.root(), "");
        layout = Gpt.layout(spec.diskSize());
        partOffset = layout.partitionOffset();
        geo = Geometry.plan(layout.partitionLength(), lastIno);
        long free = geo.blocks;
        for (int g = 0; g < geo.groups; g++) {
            free -= geo.overhead(g);
        }
        long needed = dataBlocksNeeded + metaBlocksNeeded + geo.journalBlocks();
        if (needed > free) {
            throw new SynthesisException("the apps need at least " + mib(needed * BS) + " MiB of filesystem blocks but a "
                    + mib(spec.diskSize()) + " MiB disk offers " + mib(free * BS) + " MiB; choose a larger --size");
        }
        metaStart = dataEnd();
    }

    /**
     * Where the data allocator will stop: the journal's and the files' requests replayed in the order the layout
     * pass makes them. Only bump arithmetic, so the metadata zone can start there before anything is laid out.
     */
    private long dataEnd() throws SynthesisException {
        Allocator replay = new Allocator(geo, 0);
        replay.take(geo.journalBlocks());
        for (int i = 0; i < fileRequests; i++) {
            replay.take(fileBlocks[i]);
        }
        return replay.cursor;
    }

    private static long mib(long bytes) {
        return Geometry.ceilDiv(bytes, 1L << 20);
    }

    /** Depth-first preorder numbering; also counts the blocks files and symlinks need (a lower bound for dirs). */
    private void number(FsNode.Dir d, String path) throws SynthesisException {
        long entryBytes = 24;
        int n = d.children().size();
        DirPlan plan = new DirPlan(new String[n], new FsNode[n], new byte[n][], new int[n]);
        plans.add(plan);
        int i = 0;
        for (Map.Entry<String, FsNode> e : d.children().entrySet()) {
            FsNode child = e.getValue();
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            if (name.length > MAX_NAME) {
                throw new SynthesisException("name longer than " + MAX_NAME + " bytes: /" + path + e.getKey());
            }
            entryBytes += Directory.recLen(name.length);
            if (lastIno == Integer.MAX_VALUE) {
                throw new SynthesisException("too many files for ext4");
            }
            Integer shared = child instanceof FsNode.File f && f.linkCount() > 1 ? hardlinkInodes.get(f) : null;
            int ino;
            if (shared != null) {
                ino = shared;
            } else {
                ino = ++lastIno;
                if (child instanceof FsNode.File f) {
                    if (f.linkCount() > 1) {
                        hardlinkInodes.put(f, ino);
                    }
                    long blocks = Geometry.ceilDiv(f.size(), BS);
                    dataBlocksNeeded += blocks;
                    if (blocks > 0) {
                        if (fileRequests == fileBlocks.length) {
                            fileBlocks = java.util.Arrays.copyOf(fileBlocks, fileRequests * 2);
                        }
                        fileBlocks[fileRequests++] = blocks;
                    }
                } else if (child instanceof FsNode.Symlink s && targetBytes(s).length > FAST_SYMLINK_MAX) {
                    metaBlocksNeeded++;
                }
            }
            plan.names[i] = e.getKey();
            plan.children[i] = child;
            plan.nameBytes[i] = name;
            plan.inos[i++] = ino;
            if (child instanceof FsNode.Dir sub) {
                number(sub, path + e.getKey() + "/");
            }
        }
        metaBlocksNeeded += Geometry.ceilDiv(entryBytes, Directory.USABLE);
    }

    private static byte[] targetBytes(FsNode.Symlink s) {
        return s.target().getBytes(StandardCharsets.UTF_8);
    }

    void removeOutputs() {
        try {
            if (image != null) {
                image.close();
            }
            if (index != null) {
                index.close();
            }
        } catch (IOException | RuntimeException ignored) {
            // Cleanup after a failure: the files go away below either way.
        }
        for (Path p : created) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // Best effort; the original failure is what the user needs to see.
            }
        }
    }

    SynthesizedDisk build() throws IOException {
        Path imagePath = dir.resolve(SynthesizedDisk.IMAGE);
        Path regionsPath = dir.resolve(SynthesizedDisk.REGIONS);
        Path indexPath = dir.resolve(FileIndex.FILE_NAME);
        image = ThinImage.create(imagePath, spec.diskSize());
        // Only what this run created is removed on failure, never a file that was there before.
        created.add(imagePath);
        List<ContentId> vdisks = new ArrayList<>();
        for (AppLayer layer : layers) {
            vdisks.add(layer.contentId());
        }
        regions = new RegionMapBuilder(spec.diskSize(), vdisks);
        Gpt.write(image, layout, Gpt.LINUX_FILESYSTEM, spec.derivedUuid("gpt-disk"), spec.derivedUuid("gpt-partition"),
                "dcd-ext4");

        Superblock sb = new Superblock();
        sb.uuid = spec.derivedUuid("ext4-uuid");
        sb.hashSeed = Superblock.uuidBytes(spec.derivedUuid("ext4-hash-seed"));
        fsSeed = sb.checksumSeed();
        ByteBuffer seedWords = ByteBuffer.wrap(sb.hashSeed).order(ByteOrder.LITTLE_ENDIAN);
        hashSeed = new int[] {seedWords.getInt(0), seedWords.getInt(4), seedWords.getInt(8), seedWords.getInt(12)};

        data = new Allocator(geo, 0);
        meta = new Allocator(geo, metaStart);
        metaOut = new MetaBlocks();
        tables = new InodeTables();
        dirsPerGroup = new int[geo.groups];
        for (int g = 0; g < geo.groups; g++) {
            // Inode tables read as zeros until written: declared metadata, hence ITABLE_ZEROED.
            image.declare(block(geo.inodeTable(g)), (long) geo.inodeTableBlocks * BS);
        }

        int[] journalBackup = writeJournal(sb.uuid);
        if (Files.exists(indexPath) || Files.exists(regionsPath)) {
            throw new java.nio.file.FileAlreadyExistsException(dir + " already holds a synthesized disk");
        }
        created.add(indexPath);
        created.add(indexPath.resolveSibling(indexPath.getFileName() + ".body"));
        created.add(regionsPath);
        index = new FileIndex.Writer(indexPath, spec.diskSize());
        writeDirectory(tree.root(), "", ROOT_INO, ROOT_INO);
        tables.flush();
        metaOut.flush();
        if (data.cursor != metaStart) {
            throw new IllegalStateException("file data ends at block " + data.cursor + ", not at the planned " + metaStart);
        }

        long usedInodes = lastIno;
        long freeBlocks = writeGroupMetadata(usedInodes);
        sb.blocks = geo.blocks;
        sb.reservedBlocks = geo.blocks / 20;
        sb.freeBlocks = freeBlocks;
        sb.inodes = geo.inodes();
        sb.freeInodes = geo.inodes() - usedInodes;
        sb.inodesPerGroup = geo.inodesPerGroup;
        sb.created = spec.createdEpochSeconds();
        sb.journalBlocks = journalBackup;
        for (int g = 0; g < geo.groups; g++) {
            if (Geometry.hasSuper(g)) {
                long at = block(geo.groupStart(g));
                image.declare(at, BS);
                image.write(at + (g == 0 ? Superblock.OFFSET : 0), sb.encode(g));
            }
        }
        image.addTo(regions);
        index.close();
        index = null;
        RegionMap map = regions.build();
        map.save(regionsPath);
        // meta.img is durable before synthesize returns. The sync runs on this thread: overlapping it with the
        // ~0.3 ms of files.idx and region map work above on a second thread measured 0.5 ms slower (thread start
        // and two wake-ups on a busy machine cost more than the overlap saves).
        image.force();
        image.close();
        image = null;
        progress.advance(tree.contentBytes());
        return new SynthesizedDisk(dir, map, partOffset, layout.partitionLength(), tree.fileCount(), tree.directoryCount() + 1,
                appBytes, List.of());
    }

    private long block(long b) {
        return partOffset + b * BS;
    }

    // ---- inodes and their blocks ------------------------------------------------------------------------

    private Inode newInode(int mode, FsNode node) {
        Inode in = new Inode();
        in.mode = mode;
        in.uid = node == null ? 0 : node.uid();
        in.gid = node == null ? 0 : node.gid();
        in.mtime = node == null ? spec.createdEpochSeconds() : node.mtimeSeconds();
        in.mtimeNanos = node == null ? 0 : node.mtimeNanos();
        in.ctime = in.mtime;
        in.crtime = spec.createdEpochSeconds();
        return in;
    }

    /** Allocates {@code count} metadata blocks and writes them, returning their extents. */
    private Extents writeBlocks(byte[][] blocks) throws IOException {
        Extents ext = new Extents();
        int done = 0;
        while (done < blocks.length) {
            long[] run = meta.next(blocks.length - done);
            for (int i = 0; i < run[1]; i++) {
                metaOut.put(run[0] + i, blocks[done + i]);
            }
            ext.add(run[0], run[1]);
            done += (int) run[1];
        }
        return ext;
    }

    /** Completes the extent tree (allocating leaf blocks if needed) into the inode. */
    private void finishExtents(Inode in, int ino, Extents ext) throws IOException {
        in.flags |= Inode.EXTENTS_FL;
        int leaves = ext.leafBlocksNeeded();
        long[] leafBlocks = new long[leaves];
        for (int i = 0; i < leaves; i++) {
            leafBlocks[i] = meta.next(1)[0];
        }
        if (leaves > Extents.IN_INODE) {
            throw new SynthesisException("a file needs " + ext.list.size() + " extents, more than this layout supports");
        }
        byte[][] leafData = ext.build(in.iblock, leafBlocks, Inode.seed(fsSeed, ino));
        for (int i = 0; i < leaves; i++) {
            metaOut.put(leafBlocks[i], leafData[i]);
        }
        in.blocks512 = (ext.blocks + leaves) * (BS / 512);
    }

    private int[] writeJournal(UUID uuid) throws IOException {
        int blocks = geo.journalBlocks();
        Extents ext = new Extents();
        long remaining = blocks;
        while (remaining > 0) {
            long[] run = data.next(remaining);
            // Journal blocks are metadata that reads as zero: no host space, no app data.
            image.declare(block(run[0]), run[1] * BS);
            ext.add(run[0], run[1]);
            remaining -= run[1];
        }
        ByteBuffer j = ByteBuffer.allocate(BS); // big-endian, as JBD2 is
        j.putInt(0, JBD2_MAGIC);
        j.putInt(J_BLOCKTYPE, JBD2_SUPERBLOCK_V2);
        j.putInt(J_BLOCKSIZE, BS);
        j.putInt(J_MAXLEN, blocks);
        j.putInt(J_FIRST, 1);
        j.putInt(J_SEQUENCE, 1);
        j.put(J_UUID, Superblock.uuidBytes(uuid));
        j.putInt(J_NR_USERS, 1);
        image.write(block(ext.list.get(0)[1]), j.array());

        Inode in = newInode(Inode.S_IFREG | 0600, null);
        in.links = 1;
        in.size = (long) blocks * BS;
        finishExtents(in, Superblock.JOURNAL_INO, ext);
        tables.put(Superblock.JOURNAL_INO, in);
        ByteBuffer ib = ByteBuffer.wrap(in.iblock).order(ByteOrder.LITTLE_ENDIAN);
        int[] backup = new int[17];
        for (int i = 0; i < 15; i++) {
            backup[i] = ib.getInt(4 * i);
        }
        backup[15] = (int) (in.size >>> 32);
        backup[16] = (int) in.size;
        return backup;
    }

    private void writeDirectory(FsNode.Dir d, String path, int ino, int parentIno) throws IOException {
        List<Directory.Entry> entries = new ArrayList<>(d.children().size() + 1);
        int subdirs = 0;
        if (ino == ROOT_INO) {
            entries.add(new Directory.Entry(LOST_FOUND.getBytes(StandardCharsets.UTF_8), LOST_FOUND_INO, Directory.FT_DIR));
            subdirs++;
        }
        DirPlan plan = plans.get(nextPlan);
        plans.set(nextPlan++, null);   // consumed; lets a huge tree's names go as the layout proceeds
        int[] childInodes = plan.inos;
        FsNode[] children = plan.children;
        for (int c = 0; c < children.length; c++) {
            FsNode child = children[c];
            int type = child instanceof FsNode.Dir ? Directory.FT_DIR
                    : child instanceof FsNode.Symlink ? Directory.FT_SYMLINK : Directory.FT_REG;
            if (type == Directory.FT_DIR) {
                subdirs++;
            }
            entries.add(new Directory.Entry(plan.nameBytes[c], childInodes[c], type));
        }
        Directory.Blocks blocks = Directory.build(entries, ino, parentIno, Inode.seed(fsSeed, ino), hashSeed, 1);
        entries = null;
        Inode in = newInode(Inode.S_IFDIR | d.mode(), d);
        int dirInode = dirInode(in, ino, blocks, subdirs);
        index.add(new FileIndex.Node(path, FileIndex.Kind.DIRECTORY, d.mode(), in.uid, in.gid, in.mtime, in.mtimeNanos,
                in.size, dirInode, ino, "", new long[0]));

        if (ino == ROOT_INO) {
            Directory.Blocks lf = Directory.build(List.of(), LOST_FOUND_INO, ROOT_INO, Inode.seed(fsSeed, LOST_FOUND_INO),
                    hashSeed, LOST_FOUND_BLOCKS);
            Inode lost = newInode(Inode.S_IFDIR | 0700, null);
            int links = dirInode(lost, LOST_FOUND_INO, lf, 0);
            index.add(new FileIndex.Node(LOST_FOUND, FileIndex.Kind.DIRECTORY, 0700, 0, 0, lost.mtime, 0, lost.size, links,
                    LOST_FOUND_INO, "", new long[0]));
        }

        String prefix = path.isEmpty() ? "" : path + "/";
        for (int c = 0; c < children.length; c++) {
            FsNode child = children[c];
            String childPath = prefix + plan.names[c];
            int childIno = childInodes[c];
            if (child instanceof FsNode.Dir sub) {
                writeDirectory(sub, childPath, childIno, ino);
            } else if (child instanceof FsNode.File f) {
                writeFile(f, childPath, childIno);
            } else {
                writeSymlink((FsNode.Symlink) child, childPath, childIno);
            }
        }
    }

    private int dirInode(Inode in, int ino, Directory.Blocks blocks, int subdirs) throws IOException {
        Extents ext = writeBlocks(blocks.blocks());
        if (blocks.indexed()) {
            in.flags |= Inode.INDEX_FL;
        }
        in.size = (long) blocks.blocks().length * BS;
        int links = 2 + subdirs;
        in.links = links > LINK_MAX ? 1 : links;
        finishExtents(in, ino, ext);
        tables.put(ino, in);
        dirsPerGroup[(ino - 1) / geo.inodesPerGroup]++;
        return in.links;
    }

    private void writeFile(FsNode.File f, String path, int ino) throws IOException {
        long[] extents = hardlinkExtents.get(f);
        if (extents == null) {
            Inode in = newInode(Inode.S_IFREG | f.mode(), f);
            in.size = f.size();
            in.links = f.linkCount();
            long blocks = Geometry.ceilDiv(f.size(), BS);
            Extents ext = new Extents();
            long done = 0;
            while (done < blocks) {
                long[] run = data.next(blocks - done);
                regions.appData(block(run[0]), run[1] * BS, f.layer(), f.vdiskOffset() + done * BS);
                ext.add(run[0], run[1]);
                done += run[1];
            }
            finishExtents(in, ino, ext);
            tables.put(ino, in);
            extents = new long[ext.list.size() * 2];
            for (int i = 0; i < ext.list.size(); i++) {
                extents[2 * i] = block(ext.list.get(i)[1]);
                extents[2 * i + 1] = ext.list.get(i)[2] * BS;
            }
            if (f.linkCount() > 1) {
                hardlinkExtents.put(f, extents);
            }
            appBytes += f.size();
            bytesLaidOut += f.size();
            progress.advance(bytesLaidOut);
        }
        index.add(new FileIndex.Node(path, FileIndex.Kind.FILE, f.mode(), f.uid(), f.gid(), f.mtimeSeconds(),
                f.mtimeNanos(), f.size(), f.linkCount(), ino, "", extents));
    }

    private void writeSymlink(FsNode.Symlink s, String path, int ino) throws IOException {
        byte[] target = targetBytes(s);
        Inode in = newInode(Inode.S_IFLNK | 0777, s);
        in.size = target.length;
        in.links = 1;
        if (target.length <= FAST_SYMLINK_MAX) {
            System.arraycopy(target, 0, in.iblock, 0, target.length);
        } else {
            byte[] data = new byte[BS];
            System.arraycopy(target, 0, data, 0, target.length);
            finishExtents(in, ino, writeBlocks(new byte[][] {data}));
        }
        tables.put(ino, in);
        index.add(new FileIndex.Node(path, FileIndex.Kind.SYMLINK, 0777, s.uid(), s.gid(), s.mtimeSeconds(),
                s.mtimeNanos(), target.length, 1, ino, s.target(), new long[0]));
    }

    // ---- group metadata ---------------------------------------------------------------------------------

    /** Writes bitmaps and descriptors (primary and backups); returns the free block count. */
    private long writeGroupMetadata(long usedInodes) throws IOException {
        byte[] gdt = new byte[geo.gdtBlocks * BS];
        ByteBuffer d = ByteBuffer.wrap(gdt).order(ByteOrder.LITTLE_ENDIAN);
        long totalFree = 0;
        int ipg = geo.inodesPerGroup;
        for (int g = 0; g < geo.groups; g++) {
            int groupBlocks = geo.groupBlocks(g);
            int used = meta.usedIn(g);   // the zone follows the data, so its end bounds every used block
            int free = groupBlocks - used;
            totalFree += free;
            byte[] blockBitmap = new byte[BS];
            setBits(blockBitmap, 0, used);
            setBits(blockBitmap, groupBlocks, Geometry.BLOCKS_PER_GROUP);
            writeOrDeclare(geo.blockBitmap(g), blockBitmap);
            int blockCsum = Crc32c.update(fsSeed, blockBitmap, 0, Geometry.BLOCKS_PER_GROUP / 8);

            long firstIno = (long) g * ipg + 1;
            int usedIno = (int) Math.max(0, Math.min(ipg, usedInodes - firstIno + 1));
            int flags = BG_INODE_ZEROED;
            int inodeCsum = 0;
            if (usedIno == 0) {
                flags |= BG_INODE_UNINIT;
                image.declare(block(geo.inodeBitmap(g)), BS);
            } else {
                byte[] inodeBitmap = new byte[BS];
                setBits(inodeBitmap, 0, usedIno);
                setBits(inodeBitmap, ipg, BS * 8);
                image.write(block(geo.inodeBitmap(g)), inodeBitmap);
                inodeCsum = Crc32c.update(fsSeed, inodeBitmap, 0, ipg / 8);
            }
            int at = g * Geometry.DESC_SIZE;
            putSplit32(d, at + BG_BLOCK_BITMAP, at + BG_BLOCK_BITMAP_HI, geo.blockBitmap(g));
            putSplit32(d, at + BG_INODE_BITMAP, at + BG_INODE_BITMAP_HI, geo.inodeBitmap(g));
            putSplit32(d, at + BG_INODE_TABLE, at + BG_INODE_TABLE_HI, geo.inodeTable(g));
            putSplit16(d, at + BG_FREE_BLOCKS, at + BG_FREE_BLOCKS_HI, free);
            putSplit16(d, at + BG_FREE_INODES, at + BG_FREE_INODES_HI, ipg - usedIno);
            putSplit16(d, at + BG_USED_DIRS, at + BG_USED_DIRS_HI, dirsPerGroup[g]);
            putSplit16(d, at + BG_ITABLE_UNUSED, at + BG_ITABLE_UNUSED_HI, ipg - usedIno);
            putSplit16(d, at + BG_BLOCK_BITMAP_CSUM, at + BG_BLOCK_BITMAP_CSUM_HI, blockCsum);
            putSplit16(d, at + BG_INODE_BITMAP_CSUM, at + BG_INODE_BITMAP_CSUM_HI, inodeCsum);
            d.putShort(at + BG_FLAGS, (short) flags);
            int crc = Crc32c.updateInt(fsSeed, g);
            crc = Crc32c.update(crc, gdt, at, Geometry.DESC_SIZE);
            d.putShort(at + BG_CHECKSUM, (short) crc);
        }
        for (int g = 0; g < geo.groups; g++) {
            if (Geometry.hasSuper(g)) {
                writeOrDeclare(geo.groupStart(g) + 1, gdt);
            }
        }
        return totalFree;
    }

    private void writeOrDeclare(long blockNumber, byte[] data) throws IOException {
        for (byte b : data) {
            if (b != 0) {
                image.write(block(blockNumber), data);
                return;
            }
        }
        image.declare(block(blockNumber), data.length);
    }

    private static void setBits(byte[] bitmap, int from, int to) {
        int i = from;
        while (i < to && (i & 7) != 0) {
            bitmap[i >>> 3] |= (byte) (1 << (i & 7));
            i++;
        }
        int wholeEnd = to & ~7;
        if (i < wholeEnd) {
            java.util.Arrays.fill(bitmap, i >>> 3, wholeEnd >>> 3, (byte) 0xFF);
            i = wholeEnd;
        }
        while (i < to) {
            bitmap[i >>> 3] |= (byte) (1 << (i & 7));
            i++;
        }
    }

    private static void putSplit32(ByteBuffer b, int lo, int hi, long value) {
        b.putInt(lo, (int) value);
        b.putInt(hi, (int) (value >>> 32));
    }

    private static void putSplit16(ByteBuffer b, int lo, int hi, long value) {
        b.putShort(lo, (short) value);
        b.putShort(hi, (short) (value >>> 16));
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    /** Children in name order with their UTF-8 names and inode numbers; spares the layout pass the TreeMap walks. */
    private record DirPlan(String[] names, FsNode[] children, byte[][] nameBytes, int[] inos) {
    }

    /** Bump allocation over each group's free run (everything after its fixed metadata). */
    static final class Allocator {
        private final Geometry geo;
        /** Per group: its first and its end block after the fixed run (computed once, asked for every file). */
        private final long[] freeStart;
        private final long[] groupEnd;
        private long cursor;

        Allocator(Geometry geo, long start) {
            this.geo = geo;
            this.cursor = start;
            freeStart = new long[geo.groups];
            groupEnd = new long[geo.groups];
            for (int g = 0; g < geo.groups; g++) {
                freeStart[g] = geo.groupStart(g) + geo.overhead(g);
                groupEnd[g] = geo.groupStart(g) + geo.groupBlocks(g);
            }
        }

        /** The next run of at most {@code want} blocks (never crossing a group, never over an extent's limit). */
        long[] next(long want) throws SynthesisException {
            while (true) {
                if (cursor >= geo.blocks) {
                    throw new SynthesisException("the apps do not fit in a " + geo.blocks * BS / (1L << 20)
                            + " MiB ext4 filesystem; choose a larger --size");
                }
                int g = (int) (cursor / Geometry.BLOCKS_PER_GROUP);
                long free = freeStart[g];
                long end = groupEnd[g];
                if (cursor < free) {
                    cursor = free;
                }
                if (cursor >= end) {
                    cursor = end;
                    continue;
                }
                long n = Math.min(Math.min(want, end - cursor), Geometry.MAX_EXTENT_BLOCKS);
                long[] run = {cursor, n};
                cursor += n;
                return run;
            }
        }

        /** Allocates {@code blocks} in as many runs as it takes, as a file or the journal does. */
        void take(long blocks) throws SynthesisException {
            long done = 0;
            while (done < blocks) {
                done += next(blocks - done)[1];
            }
        }

        int usedIn(int g) {
            long start = geo.groupStart(g);
            int overhead = geo.overhead(g);
            long data = Math.max(0, Math.min(cursor, start + geo.groupBlocks(g)) - (start + overhead));
            return (int) (overhead + data);
        }
    }

    /**
     * Gathers metadata-zone blocks, which arrive in allocation order and so mostly back to back, into writes of up
     * to 256 KiB. Besides saving syscalls this keeps the thin image's written ranges few and long: the host
     * filesystem places a sparse file's blocks by their offsets, so a block between holes becomes a random write
     * at the fsync (one per directory was ~400 of them and most of the synthesis's wall time).
     */
    final class MetaBlocks {
        static final int BUFFER_BLOCKS = 64;
        private final byte[] buffer = new byte[BUFFER_BLOCKS * BS];
        private long first;
        private int count;

        void put(long blockNumber, byte[] data) throws IOException {
            if (count > 0 && (blockNumber != first + count || count == BUFFER_BLOCKS)) {
                flush();
            }
            if (count == 0) {
                first = blockNumber;
            }
            System.arraycopy(data, 0, buffer, count * BS, BS);
            count++;
        }

        void flush() throws IOException {
            if (count > 0) {
                image.write(block(first), ByteBuffer.wrap(buffer, 0, count * BS));
                count = 0;
            }
        }
    }

    /**
     * Buffers a slice of one group's inode table; inodes arrive in increasing order, so each slice is
     * written once. A slice is 1024 inodes (256 KiB): big writes, but under G1's humongous-object threshold
     * (half a region, 512 KiB at small heaps), which a whole 2 MiB table was. Allocated once per synthesis,
     * it then triggered a concurrent old-generation cycle almost every other synthesis.
     */
    final class InodeTables {
        static final int SLICE_INODES = 1024;
        private final byte[] buffer = new byte[Math.min(SLICE_INODES, geo.inodesPerGroup) * Geometry.INODE_SIZE];
        private final int sliceInodes = buffer.length / Geometry.INODE_SIZE;
        private int group;
        /** First slot of the group the buffer holds (a multiple of the slice size, so 4 KiB aligned). */
        private int base;
        private int highest;

        void put(int ino, Inode inode) throws IOException {
            int g = (ino - 1) / geo.inodesPerGroup;
            int slot = (ino - 1) % geo.inodesPerGroup;
            if (g < group || g == group && slot < base) {
                image.write(block(geo.inodeTable(g)) + (long) slot * Geometry.INODE_SIZE, inode.encode(ino, fsSeed));
                return;
            }
            if (g != group || slot >= base + sliceInodes) {
                flush();
                group = g;
                base = slot - slot % sliceInodes;
            }
            inode.encodeInto(buffer, (slot - base) * Geometry.INODE_SIZE, ino, fsSeed);
            highest = Math.max(highest, slot - base + 1);
        }

        void flush() throws IOException {
            if (highest > 0) {
                int length = (int) Geometry.roundUp((long) highest * Geometry.INODE_SIZE, BS);
                image.write(block(geo.inodeTable(group)) + (long) base * Geometry.INODE_SIZE, ByteBuffer.wrap(buffer, 0, length));
                java.util.Arrays.fill(buffer, 0, length, (byte) 0);
                highest = 0;
            }
        }
    }
}
