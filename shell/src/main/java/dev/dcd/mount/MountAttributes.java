package dev.dcd.mount;

import dev.dcd.block.BlockDevice;
import dev.dcd.synth.FileIndex;

import java.nio.charset.StandardCharsets;

/**
 * The attributes every name of a mount has, computed once for both FUSE front ends (DcdFuse through libfuse,
 * LowLevelFs on /dev/fuse), so that the two can never disagree. The top-level entries belong to the mounting user
 * and carry the disk's creation time; files/ shows what the index recorded. Sizes of disk.img and stats.json are
 * taken at each call: the disk may grow and every stats snapshot differs.
 */
final class MountAttributes {
    /** One name's attributes; the inode number is the front end's business. */
    record Attr(int mode, int nlink, long size, long uid, long gid, long seconds, int nanos) {
        /** st_blocks: 512-byte units, rounded up. */
        long blocks() {
            return (size + 511) / 512;
        }
    }

    /** st_blksize and the size a directory of files/ shows. */
    static final int BLOCK_SIZE = 4096;

    private final MountSource source;
    private final BlockDevice disk;
    private final int vmdkLength;
    private final long uid;
    private final long gid;
    private final long mtime;

    MountAttributes(MountSource source, long uid, long gid) {
        this.source = source;
        this.disk = source.disk();
        this.vmdkLength = source.vmdkDescriptor().getBytes(StandardCharsets.UTF_8).length;
        this.uid = uid;
        this.gid = gid;
        this.mtime = source.createdEpochSeconds();
    }

    Attr root() {
        return top(DcdFuse.S_IFDIR | 0755, 3, 0);
    }

    /** Writable only when the device is: a read-only mount shows 0444 rather than failing writes late. */
    Attr disk() {
        return top(DcdFuse.S_IFREG | (disk.capabilities().writable() ? 0644 : 0444), 1, disk.size());
    }

    Attr vmdk() {
        return top(DcdFuse.S_IFREG | 0444, 1, vmdkLength);
    }

    Attr stats() {
        return top(DcdFuse.S_IFREG | 0444, 1, source.statsJson().length);
    }

    /** files/ when the index has no root node (an empty tree). */
    Attr filesFallback() {
        return top(DcdFuse.S_IFDIR | 0555, 2, 0);
    }

    /** A name under files/ as the index recorded it; ids are unsigned 32-bit, a directory shows one block. */
    static Attr of(FileIndex.Node node) {
        return new Attr(typeBits(node.kind()) | (node.mode() & 07777), Math.max(1, node.linkCount()),
                node.kind() == FileIndex.Kind.DIRECTORY ? BLOCK_SIZE : node.size(), node.uid() & 0xffffffffL,
                node.gid() & 0xffffffffL, node.mtimeSeconds(), node.mtimeNanos());
    }

    private Attr top(int mode, int nlink, long size) {
        return new Attr(mode, nlink, size, uid, gid, mtime, 0);
    }

    private static int typeBits(FileIndex.Kind kind) {
        return switch (kind) {
            case DIRECTORY -> DcdFuse.S_IFDIR;
            case FILE -> DcdFuse.S_IFREG;
            case SYMLINK -> DcdFuse.S_IFLNK;
        };
    }
}
