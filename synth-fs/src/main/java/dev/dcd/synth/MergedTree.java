package dev.dcd.synth;

import dev.dcd.vdisk.Entry;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The union of several apps' manifests, the tree a synthesizer lays out.
 *
 * <p>Directories shared by several apps merge. Any other path provided by two apps is a conflict, unless
 * one app has a higher priority (it wins), or both provide the very same thing (same type, bytes and
 * attributes), which is harmless. Holds no file data: only what the manifests say.
 */
public final class MergedTree {
    private static final int ROOT_MODE = 0755;

    private final List<AppLayer> layers;
    private final FsNode.Dir root;
    private final long fileCount;
    private final long directoryCount;
    private final long symlinkCount;
    private final long contentBytes;

    private MergedTree(List<AppLayer> layers, FsNode.Dir root) {
        this.layers = List.copyOf(layers);
        this.root = root;
        long[] counts = new long[4];
        Map<FsNode.File, Boolean> seen = new IdentityHashMap<>();
        walk(root, node -> {
            if (node instanceof FsNode.Dir) {
                counts[0]++;
            } else if (node instanceof FsNode.File f) {
                // Only a file with several names can be met twice; don't hash the rest.
                if (f.linkCount() <= 1 || seen.put(f, Boolean.TRUE) == null) {
                    counts[1]++;
                    counts[3] += f.size();
                }
            } else {
                counts[2]++;
            }
        });
        this.directoryCount = counts[0];
        this.fileCount = counts[1];
        this.symlinkCount = counts[2];
        this.contentBytes = counts[3];
    }

    /**
     * Merges the layers. Each layer's manifest is applied in order of decreasing priority (stable for equal
     * priorities), so a winner is always placed before the apps it overrides.
     */
    public static MergedTree merge(List<AppLayer> layers) throws SynthesisException {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            order.add(i);
        }
        order.sort((a, b) -> Integer.compare(layers.get(b).priority(), layers.get(a).priority()));
        long rootTime = 0;
        for (AppLayer layer : layers) {
            Entry rootEntry = layer.manifest().entry("");
            if (rootEntry != null) {
                rootTime = Math.max(rootTime, rootEntry.mtimeSeconds());
            }
        }
        FsNode.Dir root = new FsNode.Dir(null, ROOT_MODE, 0, 0, rootTime, 0, -1);
        List<String> conflicts = new ArrayList<>();
        for (int index : order) {
            addLayer(root, layers, index, conflicts);
        }
        if (!conflicts.isEmpty()) {
            throw new SynthesisException(conflicts.size() + " path(s) are provided by more than one app; give one "
                    + "app a higher priority with 'vm assign --priority N'", conflicts);
        }
        return new MergedTree(layers, root);
    }

    private static void addLayer(FsNode.Dir root, List<AppLayer> layers, int index, List<String> conflicts) {
        AppLayer layer = layers.get(index);
        List<Entry> entries = layer.manifest().entries();
        boolean hardlinks = false;
        for (Entry e : entries) {
            hardlinks |= e.isHardlink();
        }
        // Files first, so a hardlink sorted before its target still finds the one shared node. Without
        // hardlinks (the common case) nothing looks a file up by path, so the map is not built.
        Map<String, FsNode.File> filesByPath = new HashMap<>();
        if (hardlinks) {
            for (Entry e : entries) {
                if (e.isFile()) {
                    filesByPath.put(e.path(), newFile(e, index));
                }
            }
        }
        Map<String, FsNode.Dir> dirs = new HashMap<>();
        dirs.put("", root);
        // Consecutive entries mostly share a parent: remember the last one instead of hashing its path again.
        String lastParentPath = "";
        FsNode.Dir lastParent = root;
        // Manifest entries are sorted by path, so a directory always comes before what it holds.
        for (Entry e : entries) {
            String path = e.path();
            if (path.isEmpty()) {
                continue;
            }
            int slash = path.lastIndexOf('/');
            int parentLength = Math.max(slash, 0);
            FsNode.Dir parent;
            if (lastParentPath.length() == parentLength && path.regionMatches(0, lastParentPath, 0, parentLength)) {
                parent = lastParent;
            } else {
                String parentPath = slash < 0 ? "" : path.substring(0, slash);
                parent = dirs.get(parentPath);
                if (parent == null) {
                    // The parent lost to another app's non-directory; that loss is already a conflict or an override.
                    continue;
                }
                lastParentPath = parentPath;
                lastParent = parent;
            }
            String name = slash < 0 ? path : path.substring(slash + 1);
            Map<String, FsNode> children = parent.mutableChildren();
            if (e.isDirectory()) {
                FsNode existing = children.get(name);
                if (existing instanceof FsNode.Dir dir) {
                    dirs.put(path, dir);
                } else if (existing == null) {
                    FsNode.Dir dir = new FsNode.Dir(parent, e.mode(), e.uid(), e.gid(), e.mtimeSeconds(), e.mtimeNanos(), index);
                    children.put(name, dir);
                    dirs.put(path, dir);
                } else {
                    clash(layers, index, e.path(), existing, conflicts);
                }
                continue;
            }
            FsNode node;
            if (e.isFile()) {
                node = hardlinks ? filesByPath.get(path) : newFile(e, index);
            } else if (e.isHardlink()) {
                node = filesByPath.get(e.target());
            } else {
                node = new FsNode.Symlink(e.uid(), e.gid(), e.mtimeSeconds(), e.mtimeNanos(), index, e.target());
            }
            // One walk of the name-ordered map both looks the name up and, when it is free, takes it.
            FsNode existing = children.putIfAbsent(name, node);
            if (existing != null) {
                if (!same(existing, node)) {
                    clash(layers, index, e.path(), existing, conflicts);
                }
                continue;
            }
            if (node instanceof FsNode.File f) {
                f.addLink();
            }
        }
    }

    private static FsNode.File newFile(Entry e, int index) {
        return new FsNode.File(e.mode(), e.uid(), e.gid(), e.mtimeSeconds(), e.mtimeNanos(), index, e.size(), e.dataOffset(),
                e.sha256());
    }

    private static void clash(List<AppLayer> layers, int index, String path, FsNode existing, List<String> conflicts) {
        int existingPriority = existing.layer() < 0 ? Integer.MIN_VALUE : layers.get(existing.layer()).priority();
        if (existingPriority > layers.get(index).priority()) {
            return;
        }
        // A node's layer is the app that placed it, so its owner needs no map of every node.
        String owner = existing.layer() < 0 ? "?" : layers.get(existing.layer()).label();
        conflicts.add("/" + path + " (" + owner + " and " + layers.get(index).label() + ")");
    }

    private static boolean same(FsNode a, FsNode b) {
        if (a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid() || a.mtimeSeconds() != b.mtimeSeconds()) {
            return false;
        }
        if (a instanceof FsNode.File fa && b instanceof FsNode.File fb) {
            return fa.size() == fb.size() && Arrays.equals(fa.sha256(), fb.sha256());
        }
        if (a instanceof FsNode.Symlink sa && b instanceof FsNode.Symlink sb) {
            return sa.target().equals(sb.target());
        }
        return false;
    }

    public List<AppLayer> layers() {
        return layers;
    }

    public FsNode.Dir root() {
        return root;
    }

    /** Distinct regular files (hardlinked names count once). */
    public long fileCount() {
        return fileCount;
    }

    /** Directories including the root. */
    public long directoryCount() {
        return directoryCount;
    }

    public long symlinkCount() {
        return symlinkCount;
    }

    /** Bytes of distinct regular files. */
    public long contentBytes() {
        return contentBytes;
    }

    /** Visits every node once per name, depth first, children in {@link FsNode#NAME_ORDER}. */
    public static void walk(FsNode.Dir dir, Consumer<FsNode> visitor) {
        visitor.accept(dir);
        for (FsNode child : dir.children().values()) {
            if (child instanceof FsNode.Dir sub) {
                walk(sub, visitor);
            } else {
                visitor.accept(child);
            }
        }
    }
}
