package dev.dcd.synth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;

/**
 * The text descriptor of a {@code monolithicFlat} VMDK: one flat extent holding the raw disk, so any
 * VMware-compatible tool (and {@code qemu-img}) can use an exported raw image without conversion.
 * The CID is derived from a caller-supplied seed rather than chosen at random, so the same export
 * produces the same descriptor.
 */
public final class VmdkDescriptor {
    public static final int SECTOR = 512;
    /** The geometry VMware writes for SCSI (lsilogic) disks. */
    public static final int HEADS = 255;
    public static final int SECTORS_PER_TRACK = 63;
    /** The largest cylinder count the geometry fields carry. */
    public static final long MAX_CYLINDERS = 65535;
    /** parentCID of a disk without a parent. */
    public static final String NO_PARENT = "ffffffff";

    private final long sizeBytes;
    private final String flatFileName;
    private final long cid;

    private VmdkDescriptor(long sizeBytes, String flatFileName, long cid) {
        if (sizeBytes <= 0 || sizeBytes % SECTOR != 0) {
            throw new IllegalArgumentException("VMDK size must be a positive multiple of 512, got " + sizeBytes);
        }
        if (flatFileName.contains("\"") || flatFileName.contains("/") || flatFileName.contains("\n")) {
            throw new IllegalArgumentException("flat extent name '" + flatFileName + "' must be a plain file name");
        }
        this.sizeBytes = sizeBytes;
        this.flatFileName = flatFileName;
        this.cid = cid;
    }

    /**
     * @param flatFileName name of the raw extent file, relative to the descriptor's directory
     * @param cidSeed      anything that identifies this export (VM, generation); the CID is derived from it
     */
    public static VmdkDescriptor monolithicFlat(long sizeBytes, String flatFileName, String cidSeed) {
        return new VmdkDescriptor(sizeBytes, flatFileName, deriveCid(cidSeed));
    }

    /** The extent file name for a descriptor name: {@code disk.vmdk} gives {@code disk-flat.vmdk}. */
    public static String flatNameFor(String descriptorFileName) {
        String stem = descriptorFileName.toLowerCase(Locale.ROOT).endsWith(".vmdk")
                ? descriptorFileName.substring(0, descriptorFileName.length() - 5) : descriptorFileName;
        return stem + "-flat.vmdk";
    }

    static long deriveCid(String seed) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(("dcd:vmdk-cid:" + seed).getBytes(StandardCharsets.UTF_8));
            long value = ((h[0] & 0xffL) << 24) | ((h[1] & 0xffL) << 16) | ((h[2] & 0xffL) << 8) | (h[3] & 0xffL);
            // ffffffff means "no parent" and fffffffe is reserved by VMware; keep clear of both.
            return value >= 0xfffffffeL ? value - 2 : value;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public long sectors() {
        return sizeBytes / SECTOR;
    }

    public long cylinders() {
        return Math.min(MAX_CYLINDERS, sectors() / ((long) HEADS * SECTORS_PER_TRACK));
    }

    public String cid() {
        return String.format(Locale.ROOT, "%08x", cid);
    }

    public String render() {
        return "# Disk DescriptorFile\n"
                + "version=1\n"
                + "CID=" + cid() + "\n"
                + "parentCID=" + NO_PARENT + "\n"
                + "createType=\"monolithicFlat\"\n"
                + "\n"
                + "# Extent description\n"
                + "RW " + sectors() + " FLAT \"" + flatFileName + "\" 0\n"
                + "\n"
                + "# The Disk Data Base\n"
                + "#DDB\n"
                + "\n"
                + "ddb.virtualHWVersion = \"4\"\n"
                + "ddb.adapterType = \"lsilogic\"\n"
                + "ddb.geometry.cylinders = \"" + cylinders() + "\"\n"
                + "ddb.geometry.heads = \"" + HEADS + "\"\n"
                + "ddb.geometry.sectors = \"" + SECTORS_PER_TRACK + "\"\n";
    }
}
