package dev.dcd.synth.fat32;

import dev.dcd.backend.Progress;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.FsNode;
import dev.dcd.synth.FsType;
import dev.dcd.synth.Gpt;
import dev.dcd.synth.MergedTree;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.RegionMapBuilder;
import dev.dcd.synth.SynthesisException;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizer;
import dev.dcd.synth.ThinImage;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;

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

/**
 * Synthesizes a GPT disk with one FAT32 partition whose metadata (boot sectors, FATs, directories) lives
 * in the thin image and whose file clusters are mapped onto the app vdisks by the region map.
 * See docs/fat32-synthesis.md for the layout and the rules.
 */
public final class Fat32Synthesizer implements Synthesizer {
    static final String VOLUME_LABEL = "DCD";
    static final String PARTITION_NAME = "dcd";
    static final String OEM_NAME = "MSWIN4.1";
    static final int MEDIA_FIXED_DISK = 0xF8;
    static final long END_OF_CHAIN = 0x0FFFFFFFL;

    // Boot sector (fatgen103, "Boot Sector and BPB Structure", FAT32 variant).
    static final int BS_JMP_BOOT = 0;
    static final int BS_OEM_NAME = 3;
    static final int BPB_BYTS_PER_SEC = 11;
    static final int BPB_SEC_PER_CLUS = 13;
    static final int BPB_RSVD_SEC_CNT = 14;
    static final int BPB_NUM_FATS = 16;
    static final int BPB_ROOT_ENT_CNT = 17;
    static final int BPB_TOT_SEC16 = 19;
    static final int BPB_MEDIA = 21;
    static final int BPB_FAT_SZ16 = 22;
    static final int BPB_SEC_PER_TRK = 24;
    static final int BPB_NUM_HEADS = 26;
    static final int BPB_HIDD_SEC = 28;
    static final int BPB_TOT_SEC32 = 32;
    static final int BPB_FAT_SZ32 = 36;
    static final int BPB_EXT_FLAGS = 40;
    static final int BPB_FS_VER = 42;
    static final int BPB_ROOT_CLUS = 44;
    static final int BPB_FS_INFO = 48;
    static final int BPB_BK_BOOT_SEC = 50;
    static final int BS_DRV_NUM = 64;
    static final int BS_BOOT_SIG = 66;
    static final int BS_VOL_ID = 67;
    static final int BS_VOL_LAB = 71;
    static final int BS_FIL_SYS_TYPE = 82;
    static final int BS_BOOT_CODE = 90;
    static final int SIGNATURE = 510;
    static final int FS_INFO_SECTOR = 1;
    static final int BACKUP_BOOT_SECTOR = 6;

    // FSInfo sector.
    static final int FSI_LEAD_SIG = 0;
    static final int FSI_STRUC_SIG = 484;
    static final int FSI_FREE_COUNT = 488;
    static final int FSI_NXT_FREE = 492;
    static final int FSI_TRAIL_SIG = 508;

    /**
     * The smallest disk, in whole 4 KiB blocks, whose GPT partition this synthesizer can format: FAT32 needs
     * 65525 clusters of at least 512 bytes, plus its FATs, after the 1 MiB partition start and the backup GPT.
     * Found by trying the same geometry code every build runs, so it cannot drift from it.
     */
    public static final long MIN_DISK_SIZE = smallestBuildableDisk();

    private static long smallestBuildableDisk() {
        for (long size = DiskSpec.PARTITION_START + 4096; ; size += 4096) {
            try {
                FatGeometry.of(Gpt.layout(size).partitionLength());
                return size;
            } catch (SynthesisException tooSmall) {
                // keep growing
            }
        }
    }

    @Override
    public FsType type() {
        return FsType.FAT32;
    }

    @Override
    public SynthesizedDisk synthesize(DiskSpec spec, List<AppLayer> layers, Path dir, Progress progress)
            throws IOException {
        MergedTree tree = MergedTree.merge(layers);
        Gpt.Layout gpt = Gpt.layout(spec.diskSize());
        FatGeometry geometry = FatGeometry.of(gpt.partitionLength());
        FatLayout layout = FatLayout.plan(tree, spec, geometry);

        // Everything the user could get wrong is checked above; from here on we only write.
        Files.createDirectories(dir);
        long base = gpt.partitionOffset();
        List<ContentId> vdisks = new ArrayList<>();
        for (AppLayer layer : layers) {
            vdisks.add(layer.contentId());
        }
        RegionMapBuilder regions = new RegionMapBuilder(spec.diskSize(), vdisks);
        long written = 0;
        try (ThinImage image = ThinImage.create(dir.resolve(SynthesizedDisk.IMAGE), spec.diskSize())) {
            Gpt.write(image, gpt, Gpt.MICROSOFT_BASIC_DATA, spec.derivedUuid("gpt-disk"),
                    spec.derivedUuid("gpt-partition"), PARTITION_NAME);
            writeReservedArea(image, base, spec, geometry, layout);
            progress.advance(written += FatGeometry.RESERVED_SECTORS * FatGeometry.SECTOR);
            writeFats(image, base, geometry, layout);
            progress.advance(written += FatGeometry.FAT_COUNT * geometry.fatBytes());
            for (FatLayout.DirPlan d : layout.dirs) {
                image.write(base + geometry.clusterOffset(d.first), directory(d, spec, geometry));
                progress.advance(written += d.clusters * geometry.clusterSize());
            }
            image.force();
            image.addTo(regions);
        }
        long appBytes = 0;
        Map<FsNode.File, Boolean> distinct = new IdentityHashMap<>();
        for (FatLayout.DirPlan d : layout.dirs) {
            for (FatLayout.Slot slot : d.slots) {
                if (slot.file == null) {
                    continue;
                }
                if (distinct.put(slot.file, Boolean.TRUE) == null) {
                    appBytes += slot.size();
                }
                if (slot.size() > 0) {
                    regions.appData(base + geometry.clusterOffset(slot.first), VdiskFormat.alignUp(slot.size()),
                            slot.file.layer(), slot.file.vdiskOffset());
                }
            }
        }
        RegionMap map = regions.build();
        map.save(dir.resolve(SynthesizedDisk.REGIONS));
        writeIndex(dir.resolve(FileIndex.FILE_NAME), map.size(), base, geometry, layout);
        progress.advance(written);
        return new SynthesizedDisk(dir, map, base, gpt.partitionLength(), distinct.size(), layout.dirs.size(),
                appBytes, List.copyOf(layout.warnings));
    }

    private static void writeReservedArea(ThinImage image, long base, DiskSpec spec, FatGeometry g, FatLayout layout)
            throws IOException {
        byte[] boot = bootSector(spec, g);
        byte[] info = fsInfo(g, layout);
        image.declare(base, (long) FatGeometry.RESERVED_SECTORS * FatGeometry.SECTOR);
        image.write(base, boot);
        image.write(base + FS_INFO_SECTOR * FatGeometry.SECTOR, info);
        image.write(base + BACKUP_BOOT_SECTOR * FatGeometry.SECTOR, boot);
        image.write(base + (BACKUP_BOOT_SECTOR + FS_INFO_SECTOR) * FatGeometry.SECTOR, info);
    }

    static byte[] bootSector(DiskSpec spec, FatGeometry g) {
        ByteBuffer b = ByteBuffer.allocate(FatGeometry.SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        b.put(BS_JMP_BOOT, new byte[] {(byte) 0xEB, (byte) (BS_BOOT_CODE - 2), (byte) 0x90});
        b.put(BS_OEM_NAME, OEM_NAME.getBytes(StandardCharsets.US_ASCII));
        b.putShort(BPB_BYTS_PER_SEC, (short) FatGeometry.SECTOR);
        b.put(BPB_SEC_PER_CLUS, (byte) g.sectorsPerCluster);
        b.putShort(BPB_RSVD_SEC_CNT, (short) FatGeometry.RESERVED_SECTORS);
        b.put(BPB_NUM_FATS, (byte) FatGeometry.FAT_COUNT);
        b.putShort(BPB_ROOT_ENT_CNT, (short) 0);
        b.putShort(BPB_TOT_SEC16, (short) 0);
        b.put(BPB_MEDIA, (byte) MEDIA_FIXED_DISK);
        b.putShort(BPB_FAT_SZ16, (short) 0);
        // The usual LBA-translated geometry; nothing reads it for a GPT disk, but zero would look broken.
        b.putShort(BPB_SEC_PER_TRK, (short) 63);
        b.putShort(BPB_NUM_HEADS, (short) 255);
        b.putInt(BPB_HIDD_SEC, (int) (DiskSpec.PARTITION_START / FatGeometry.SECTOR));
        b.putInt(BPB_TOT_SEC32, (int) g.totalSectors);
        b.putInt(BPB_FAT_SZ32, (int) g.fatSectors);
        b.putShort(BPB_EXT_FLAGS, (short) 0);     // both FATs mirrored
        b.putShort(BPB_FS_VER, (short) 0);
        b.putInt(BPB_ROOT_CLUS, 2);
        b.putShort(BPB_FS_INFO, (short) FS_INFO_SECTOR);
        b.putShort(BPB_BK_BOOT_SEC, (short) BACKUP_BOOT_SECTOR);
        b.put(BS_DRV_NUM, (byte) 0x80);
        b.put(BS_BOOT_SIG, (byte) 0x29);
        b.put(BS_VOL_ID, spec.derivedBytes("fat32-volume-serial"), 0, 4);
        b.put(BS_VOL_LAB, label11());
        b.put(BS_FIL_SYS_TYPE, "FAT32   ".getBytes(StandardCharsets.US_ASCII));
        // Not a boot disk: if firmware jumps here anyway, stop the CPU instead of running zeros.
        b.put(BS_BOOT_CODE, new byte[] {(byte) 0xFA, (byte) 0xF4, (byte) 0xEB, (byte) 0xFD});
        b.put(SIGNATURE, (byte) 0x55).put(SIGNATURE + 1, (byte) 0xAA);
        return b.array();
    }

    static byte[] fsInfo(FatGeometry g, FatLayout layout) {
        ByteBuffer b = ByteBuffer.allocate(FatGeometry.SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(FSI_LEAD_SIG, 0x41615252);
        b.putInt(FSI_STRUC_SIG, 0x61417272);
        b.putInt(FSI_FREE_COUNT, (int) (g.clusterCount - layout.usedClusters));
        // The hint is where a writer should start looking: just past our last run, or "unknown" when full.
        b.putInt(FSI_NXT_FREE, layout.nextFree < g.clusterLimit() ? (int) layout.nextFree : 0xFFFFFFFF);
        b.putInt(FSI_TRAIL_SIG, 0xAA550000);
        return b.array();
    }

    static byte[] label11() {
        byte[] label = "           ".getBytes(StandardCharsets.US_ASCII);
        byte[] text = VOLUME_LABEL.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(text, 0, label, 0, text.length);
        return label;
    }

    /**
     * Both FATs. Only the part covering clusters in use can be non-zero; that part is written sector by sector
     * skipping zero sectors, and the rest is declared metadata that stays a hole in the thin image.
     */
    private static void writeFats(ThinImage image, long base, FatGeometry g, FatLayout layout) throws IOException {
        int[] fat = new int[Math.toIntExact(layout.nextFree)];
        fat[0] = 0x0FFFFF00 | MEDIA_FIXED_DISK;
        fat[1] = (int) END_OF_CHAIN;     // clean-shutdown and no-error bits set
        for (FatLayout.DirPlan d : layout.dirs) {
            chain(fat, d.first, d.clusters);
            for (FatLayout.Slot slot : d.slots) {
                if (slot.clusters > 0) {
                    chain(fat, slot.first, slot.clusters);
                }
            }
        }
        int perSector = FatGeometry.SECTOR / 4;
        ByteBuffer sector = ByteBuffer.allocate(FatGeometry.SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        for (int copy = 0; copy < FatGeometry.FAT_COUNT; copy++) {
            long start = base + g.fatOffset(copy);
            image.declare(start, g.fatBytes());
            ByteBuffer run = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            long runStart = start;
            for (int s = 0; (long) s * perSector < fat.length; s++) {
                sector.clear();
                boolean zero = true;
                for (int i = 0; i < perSector; i++) {
                    int index = s * perSector + i;
                    int value = index < fat.length ? fat[index] : 0;
                    zero &= value == 0;
                    sector.putInt(value);
                }
                if (zero) {
                    flush(image, run, runStart);
                    continue;
                }
                if (!run.hasRemaining()) {
                    flush(image, run, runStart);
                }
                if (run.position() == 0) {
                    runStart = start + (long) s * FatGeometry.SECTOR;
                }
                run.put(sector.array());
            }
            flush(image, run, runStart);
        }
    }

    private static void flush(ThinImage image, ByteBuffer run, long at) throws IOException {
        if (run.position() > 0) {
            run.flip();
            image.write(at, run);
            run.clear();
        }
    }

    private static void chain(int[] fat, long first, long clusters) {
        for (long c = first; c < first + clusters - 1; c++) {
            fat[(int) c] = (int) (c + 1);
        }
        fat[(int) (first + clusters - 1)] = (int) END_OF_CHAIN;
    }

    private static ByteBuffer directory(FatLayout.DirPlan d, DiskSpec spec, FatGeometry g) {
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(d.clusters * g.clusterSize())).order(ByteOrder.LITTLE_ENDIAN);
        if (d.isRoot()) {
            DirEntries.putShort(b, label11(), DirEntries.ATTR_VOLUME_ID, 0, 0, spec.createdEpochSeconds(), 0);
        } else {
            long mtime = d.node.mtimeSeconds();
            int nanos = d.node.mtimeNanos();
            DirEntries.putShort(b, dotName("."), DirEntries.ATTR_DIRECTORY, d.first, 0, mtime, nanos);
            // ".." points at cluster 0 when the parent is the root (fatgen103), whatever the root's cluster is.
            long parent = d.parent.isRoot() ? 0 : d.parent.first;
            DirEntries.putShort(b, dotName(".."), DirEntries.ATTR_DIRECTORY, parent, 0, mtime, nanos);
        }
        for (FatLayout.Slot slot : d.slots) {
            if (slot.longName) {
                DirEntries.putLongName(b, slot.name, ShortNames.checksum(slot.shortName));
            }
            if (slot.sub != null) {
                FsNode.Dir node = slot.sub.node;
                DirEntries.putShort(b, slot.shortName, DirEntries.ATTR_DIRECTORY, slot.sub.first, 0,
                        node.mtimeSeconds(), node.mtimeNanos());
            } else {
                FsNode.File f = slot.file;
                int attributes = DirEntries.ATTR_ARCHIVE | ((f.mode() & 0222) == 0 ? DirEntries.ATTR_READ_ONLY : 0);
                DirEntries.putShort(b, slot.shortName, attributes, slot.first, f.size(), f.mtimeSeconds(),
                        f.mtimeNanos());
            }
        }
        b.clear();
        return b;
    }

    private static byte[] dotName(String dots) {
        byte[] name = "           ".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(dots.getBytes(StandardCharsets.US_ASCII), 0, name, 0, dots.length());
        return name;
    }

    /** Every name on the volume, depth first in directory order, with extents as absolute disk offsets. */
    private static void writeIndex(Path file, long diskSize, long base, FatGeometry g, FatLayout layout) throws IOException {
        Map<FsNode.File, Long> ids = new IdentityHashMap<>();
        long[] next = {1};
        try (FileIndex.Writer w = new FileIndex.Writer(file, diskSize)) {
            addDir(w, layout.root, base, g, ids, next);
        }
    }

    private static void addDir(FileIndex.Writer w, FatLayout.DirPlan d, long base, FatGeometry g,
                               Map<FsNode.File, Long> ids, long[] next) throws IOException {
        FsNode.Dir n = d.node;
        int subdirs = 0;
        for (FatLayout.Slot slot : d.slots) {
            subdirs += slot.sub != null ? 1 : 0;
        }
        w.add(new FileIndex.Node(d.path, FileIndex.Kind.DIRECTORY, n.mode(), n.uid(), n.gid(), n.mtimeSeconds(),
                n.mtimeNanos(), d.clusters * g.clusterSize(), 2 + subdirs, next[0]++, "", new long[0]));
        for (FatLayout.Slot slot : d.slots) {
            if (slot.sub != null) {
                addDir(w, slot.sub, base, g, ids, next);
                continue;
            }
            FsNode.File f = slot.file;
            long id;
            int links;
            if (slot.copiedSymlink) {
                id = next[0]++;
                links = 1;
            } else {
                Long known = ids.get(f);
                id = known != null ? known : next[0]++;
                ids.putIfAbsent(f, id);
                links = f.linkCount();
            }
            long[] extents = slot.clusters == 0 ? new long[0]
                    : new long[] {base + g.clusterOffset(slot.first), slot.clusters * g.clusterSize()};
            w.add(new FileIndex.Node(slot.path, FileIndex.Kind.FILE, f.mode(), f.uid(), f.gid(), f.mtimeSeconds(),
                    f.mtimeNanos(), f.size(), links, id, "", extents));
        }
    }
}
