package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.FileIndex;

import java.io.Closeable;
import java.io.IOException;

/**
 * Everything a mount shows for one VM. The FUSE layer only adapts this to callbacks; the filter chain,
 * the synthesized index and the descriptor all come from here, so wiring a real VM is one implementation.
 */
public interface MountSource extends Closeable {

    /** The dynamic content disk, read-write: writes land in the VM's overlay. */
    BlockDevice disk();

    /** Every name on the synthesized filesystem with its extents as absolute offsets into {@link #disk()}. */
    FileIndex files();

    /** A VMDK descriptor whose extent names {@code disk.img} next to it in the mount. */
    String vmdkDescriptor();

    /** A fresh snapshot of the chain's statistics, as JSON. Called on every open of {@code stats.json}. */
    byte[] statsJson();

    /** A one-line description for logs, e.g. "vm web1: ext4, 8 GiB, 1234 files". */
    String describe();

    /** Where the filesystem partition starts on the disk; diagnostics only (losetup -o). */
    default long partitionOffset() {
        return 1L << 20;
    }

    /** Seconds since the epoch shown as the mtime of the top-level entries; deterministic per disk generation. */
    default long createdEpochSeconds() {
        return 0;
    }

    /**
     * True when every read is served from local files, with no backend round trip to overlap. Such a mount
     * runs {@link MountOptions#LOCAL_THREADS} loop threads, others {@link MountOptions#REMOTE_THREADS}.
     */
    default boolean localOnly() {
        return false;
    }

    /**
     * The VM disk generation served, recorded with the mount so that its vdisks count as referenced while it
     * runs; 0 when the source is not a generation (a plain file in tests).
     */
    default int generation() {
        return 0;
    }

    /**
     * Called once by the process that serves the source, before it serves: starts background work (remote vdisks
     * opening ahead, prefetch).
     */
    default void start() {
    }

    /** How long a server that first comes up waits for its remote vdisks to open ({@link #awaitStarted}). */
    java.time.Duration OPEN_AHEAD_WAIT = java.time.Duration.ofSeconds(3);

    /**
     * After {@link #start}, when a server first comes up (not when a standby takes over from a killed one, where
     * every millisecond is a pause of the guest's I/O): waits, at most {@code limit}, until the remote apps' vdisks
     * have opened in the background, so that the mount or NBD export is ready for a guest's first read of any app
     * when the command that made it returns. A vdisk that cannot be opened does not hold it up beyond the limit;
     * its first read reports why.
     */
    default void awaitStarted(java.time.Duration limit) {
    }

    /**
     * Serves vdisk {@code id} from the catalog backend {@code backend} from now on (the app moved there): opens and
     * checks it there first, then swaps it in under running reads. Asked through the control channel.
     *
     * @return false when this source does not read that vdisk
     * @throws IOException with a one-line message when it cannot; the old backend still serves then
     */
    default boolean switchBackend(dev.dcd.vdisk.ContentId id, String backend) throws IOException {
        throw new IOException("this server cannot switch backends");
    }

    /**
     * The catalog backend vdisk {@code id} is read from now (it changes when the app moves), or null when this
     * source does not read that vdisk. Asked through the control channel ({@code reads}) by {@code catalog gc}.
     *
     * @throws IOException when the source cannot say; the asker must then assume it may read any copy
     */
    default String backendOf(dev.dcd.vdisk.ContentId id) throws IOException {
        throw new IOException("this server cannot say which backend it reads a vdisk from");
    }

    /**
     * Records the reads of vdisk {@code id} from now for {@code window} and stores them as its prefetch list in place
     * of any (docs/prefetch.md); returns once stored. Asked through the control channel.
     *
     * @return the chunks stored; 0 when nothing of the vdisk was read; -1 when this source does not read it
     * @throws IOException with a one-line message when it cannot record it
     */
    default int recordPrefetch(dev.dcd.vdisk.ContentId id, java.time.Duration window) throws IOException {
        throw new IOException("this server cannot record prefetch lists");
    }

    /** What the control channel's {@code status} answers: {@code key=value} words. */
    default String controlStatus() {
        return "generation=" + generation() + " pid=" + ProcessHandle.current().pid();
    }

    /** Releases the disk; called once when the mount ends. */
    @Override
    default void close() throws IOException {
        disk().close();
    }
}
