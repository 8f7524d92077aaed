package dev.dcd.synth;

import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;

/**
 * A node of the merged tree. Files reached by several hardlinked names are one {@link File} object
 * referenced from several directories, with {@link File#linkCount()} counting the names.
 */
public abstract sealed class FsNode permits FsNode.Dir, FsNode.File, FsNode.Symlink {
    /** Directory order: by UTF-8 bytes, which is what C tools and our manifests sort by. */
    public static final Comparator<String> NAME_ORDER = FsNode::compareUtf8;

    /**
     * UTF-8 byte order is code point order, so compare code points and skip encoding both names on every
     * comparison (tree merging spends most of its time here). String.compareTo is not enough: it orders
     * UTF-16 units, which puts supplementary characters before U+E000..U+FFFF.
     */
    static int compareUtf8(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char ca = a.charAt(i);
            char cb = b.charAt(j);
            if (ca == cb && !Character.isSurrogate(ca)) {
                i++;
                j++;
                continue;
            }
            int pa = a.codePointAt(i);
            int pb = b.codePointAt(j);
            if (pa != pb) {
                return Integer.compare(pa, pb);
            }
            i += Character.charCount(pa);
            j += Character.charCount(pb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    private final int mode;
    private final int uid;
    private final int gid;
    private final long mtimeSeconds;
    private final int mtimeNanos;
    /** Index into the layer list of the app that provided this node (-1 for directories nobody described). */
    private final int layer;

    FsNode(int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos, int layer) {
        this.mode = mode;
        this.uid = uid;
        this.gid = gid;
        this.mtimeSeconds = mtimeSeconds;
        this.mtimeNanos = mtimeNanos;
        this.layer = layer;
    }

    public int mode() {
        return mode;
    }

    public int uid() {
        return uid;
    }

    public int gid() {
        return gid;
    }

    public long mtimeSeconds() {
        return mtimeSeconds;
    }

    public int mtimeNanos() {
        return mtimeNanos;
    }

    public int layer() {
        return layer;
    }

    public static final class Dir extends FsNode {
        private final Map<String, FsNode> children = new TreeMap<>(NAME_ORDER);
        private final Dir parent;

        Dir(Dir parent, int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos, int layer) {
            super(mode, uid, gid, mtimeSeconds, mtimeNanos, layer);
            this.parent = parent;
        }

        /** The parent directory; the root is its own parent, as in every Unix filesystem. */
        public Dir parent() {
            return parent == null ? this : parent;
        }

        /** Children sorted by {@link #NAME_ORDER}. */
        public Map<String, FsNode> children() {
            return Collections.unmodifiableMap(children);
        }

        Map<String, FsNode> mutableChildren() {
            return children;
        }

        public int subdirectoryCount() {
            int n = 0;
            for (FsNode child : children.values()) {
                if (child instanceof Dir) {
                    n++;
                }
            }
            return n;
        }
    }

    /** A regular file; its bytes are {@code size} bytes at {@code vdiskOffset} in layer {@code layer()}'s vdisk. */
    public static final class File extends FsNode {
        private final long size;
        private final long vdiskOffset;
        private final byte[] sha256;
        private int linkCount;

        File(int mode, int uid, int gid, long mtimeSeconds, int mtimeNanos, int layer, long size, long vdiskOffset, byte[] sha256) {
            super(mode, uid, gid, mtimeSeconds, mtimeNanos, layer);
            this.size = size;
            this.vdiskOffset = vdiskOffset;
            this.sha256 = sha256;
        }

        public long size() {
            return size;
        }

        public long vdiskOffset() {
            return vdiskOffset;
        }

        public byte[] sha256() {
            return sha256;
        }

        public int linkCount() {
            return linkCount;
        }

        void addLink() {
            linkCount++;
        }
    }

    public static final class Symlink extends FsNode {
        private final String target;

        Symlink(int uid, int gid, long mtimeSeconds, int mtimeNanos, int layer, String target) {
            super(0777, uid, gid, mtimeSeconds, mtimeNanos, layer);
            this.target = target;
        }

        public String target() {
            return target;
        }
    }

    static Collection<FsNode> none() {
        return Collections.emptyList();
    }
}
