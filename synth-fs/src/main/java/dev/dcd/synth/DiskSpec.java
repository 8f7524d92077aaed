package dev.dcd.synth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Objects;
import java.util.UUID;

/**
 * What to synthesize. Immutable; everything that could vary between two builds (UUIDs, hash seeds,
 * timestamps) is derived from here, so the same spec and apps give a byte-identical disk.
 */
public final class DiskSpec {
    /** Where the single partition starts: 1 MiB, the alignment every partitioning tool uses. */
    public static final long PARTITION_START = 1L << 20;

    private final String vmId;
    private final FsType fsType;
    private final long diskSize;
    private final long createdEpochSeconds;
    private final SymlinkPolicy symlinkPolicy;

    private DiskSpec(Builder b) {
        this.vmId = Objects.requireNonNull(b.vmId, "vmId");
        this.fsType = Objects.requireNonNull(b.fsType, "fsType");
        this.diskSize = b.diskSize;
        this.createdEpochSeconds = b.createdEpochSeconds;
        this.symlinkPolicy = b.symlinkPolicy;
        if (diskSize < 16L << 20 || diskSize % 4096 != 0) {
            throw new IllegalArgumentException("disk size must be a multiple of 4 KiB and at least 16 MiB, got " + diskSize);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public String vmId() {
        return vmId;
    }

    public FsType fsType() {
        return fsType;
    }

    public long diskSize() {
        return diskSize;
    }

    /** Filesystem creation time, taken from the catalog (the VM's creation), never from the clock. */
    public long createdEpochSeconds() {
        return createdEpochSeconds;
    }

    public SymlinkPolicy symlinkPolicy() {
        return symlinkPolicy;
    }

    /** A UUID that depends only on the VM id and a purpose label, so rebuilds reproduce it. */
    public UUID derivedUuid(String purpose) {
        byte[] h = derivedBytes(purpose);
        long msb = 0;
        long lsb = 0;
        for (int i = 0; i < 8; i++) {
            msb = (msb << 8) | (h[i] & 0xff);
            lsb = (lsb << 8) | (h[8 + i] & 0xff);
        }
        msb = (msb & ~0xF000L) | 0x4000L;              // version 4 layout, as random UUIDs have
        lsb = (lsb & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L; // IETF variant
        return new UUID(msb, lsb);
    }

    /** 32 bytes that depend only on the VM id and a purpose label (hash seeds, volume serials). */
    public byte[] derivedBytes(String purpose) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(("dcd:" + purpose + ":" + vmId).getBytes(StandardCharsets.UTF_8));
            return sha.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public Builder toBuilder() {
        return new Builder().vmId(vmId).fsType(fsType).diskSize(diskSize).createdEpochSeconds(createdEpochSeconds)
                .symlinkPolicy(symlinkPolicy);
    }

    /** How FAT, which has no symlinks, treats them. */
    public enum SymlinkPolicy { SKIP, COPY_TARGET }

    public static final class Builder {
        private String vmId;
        private FsType fsType = FsType.EXT4;
        private long diskSize = 8L << 30;
        private long createdEpochSeconds;
        private SymlinkPolicy symlinkPolicy = SymlinkPolicy.SKIP;

        public Builder vmId(String value) {
            this.vmId = value;
            return this;
        }

        public Builder fsType(FsType value) {
            this.fsType = value;
            return this;
        }

        public Builder diskSize(long value) {
            this.diskSize = value;
            return this;
        }

        public Builder createdEpochSeconds(long value) {
            this.createdEpochSeconds = value;
            return this;
        }

        public Builder symlinkPolicy(SymlinkPolicy value) {
            this.symlinkPolicy = value;
            return this;
        }

        public DiskSpec build() {
            return new DiskSpec(this);
        }
    }
}
