package dev.dcd.synth.fat32;

import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsNode;
import dev.dcd.synth.MergedTree;
import dev.dcd.synth.SynthesisException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The whole FAT32 volume planned in memory before anything is written: which names go where, their short
 * names, and the cluster run of every directory and file. Every rule FAT imposes is checked here, so a tree
 * that cannot become a volume fails before the first byte of output.
 *
 * <p>Allocation: the root directory at cluster 2, then every other directory (depth first), then every
 * file, each as one contiguous run. A file never shares clusters with another name, not even a hardlink:
 * fsck.fat reports two entries reaching the same clusters as "share clusters" and exits 1, so each
 * hardlinked name has its own run, and the region map points every run at the same app bytes.
 */
final class FatLayout {
    /** fatgen103: a directory may hold at most 65536 32-byte entries. */
    static final int MAX_DIR_ENTRIES = 65536;
    static final long MAX_FILE_SIZE = 0xFFFFFFFFL;
    private static final int MAX_SYMLINK_HOPS = 40;

    final FatGeometry geometry;
    final DirPlan root;
    /** Directories in allocation order (root first). */
    final List<DirPlan> dirs = new ArrayList<>();
    final List<String> warnings = new ArrayList<>();
    /** One past the last cluster in use. */
    long nextFree;
    long usedClusters;

    static final class DirPlan {
        final String path;
        final FsNode.Dir node;
        final DirPlan parent;
        final List<Slot> slots = new ArrayList<>();
        int entryCount;
        long first;
        long clusters;

        DirPlan(String path, FsNode.Dir node, DirPlan parent) {
            this.path = path;
            this.node = node;
            this.parent = parent;
        }

        boolean isRoot() {
            return parent == null;
        }
    }

    /** One name in a directory: a subdirectory, a file, or a symlink stored as a copy of its target. */
    static final class Slot {
        final String name;
        final String path;
        final DirPlan dir;
        final FsNode.File file;
        final boolean copiedSymlink;
        /** The directory this slot names, or null for a file. */
        DirPlan sub;
        byte[] shortName;
        boolean longName;
        long first;
        long clusters;

        Slot(String name, String path, DirPlan dir, FsNode.File file, boolean copiedSymlink) {
            this.name = name;
            this.path = path;
            this.dir = dir;
            this.file = file;
            this.copiedSymlink = copiedSymlink;
        }

        long size() {
            return file == null ? 0 : file.size();
        }
    }

    private FatLayout(FatGeometry geometry, FsNode.Dir rootNode) {
        this.geometry = geometry;
        this.root = new DirPlan("", rootNode, null);
    }

    static FatLayout plan(MergedTree tree, DiskSpec spec, FatGeometry geometry) throws SynthesisException {
        FatLayout layout = new FatLayout(geometry, tree.root());
        List<String> problems = new ArrayList<>();
        layout.collect(layout.root, tree, spec, problems);
        if (!problems.isEmpty()) {
            throw new SynthesisException(problems.size() + " name(s) cannot be stored on FAT32", problems);
        }
        for (DirPlan dir : layout.dirs) {
            layout.assignShortNames(dir, problems);
        }
        if (!problems.isEmpty()) {
            throw new SynthesisException(problems.size() + " directory(ies) hold more entries than FAT32 allows",
                    problems);
        }
        layout.allocate(tree.layers());
        return layout;
    }

    private void collect(DirPlan dir, MergedTree tree, DiskSpec spec, List<String> problems) {
        dirs.add(dir);
        List<AppLayer> layers = tree.layers();
        Map<String, String> byCase = new HashMap<>();
        for (Map.Entry<String, FsNode> child : dir.node.children().entrySet()) {
            String name = child.getKey();
            FsNode node = child.getValue();
            String path = dir.path.isEmpty() ? name : dir.path + "/" + name;
            String shown = "/" + path + " (" + label(layers, node) + ")";
            Slot slot;
            DirPlan sub = null;
            if (node instanceof FsNode.Dir d) {
                sub = new DirPlan(path, d, dir);
                slot = new Slot(name, path, dir, null, false);
            } else if (node instanceof FsNode.File f) {
                slot = new Slot(name, path, dir, f, false);
            } else {
                FsNode.Symlink link = (FsNode.Symlink) node;
                if (spec.symlinkPolicy() == DiskSpec.SymlinkPolicy.SKIP) {
                    warnings.add("skipped symlink " + shown + " -> " + link.target() + ": FAT has no symlinks");
                    continue;
                }
                FsNode target = resolve(tree.root(), dir.path, link.target());
                if (!(target instanceof FsNode.File f)) {
                    warnings.add("skipped symlink " + shown + " -> " + link.target() + ": its target is not a "
                            + "regular file on this disk");
                    continue;
                }
                slot = new Slot(name, path, dir, f, true);
            }
            String problem = FatNames.problem(name);
            if (problem != null) {
                problems.add(shown + ": " + problem);
            }
            if (path.length() > FatNames.MAX_PATH) {
                problems.add(shown + ": path of " + path.length() + " characters is longer than Windows' "
                        + FatNames.MAX_PATH);
            }
            if (slot.size() > MAX_FILE_SIZE) {
                problems.add(shown + ": file of " + slot.size() + " bytes is larger than FAT32's 4 GiB - 1");
            }
            String other = byCase.putIfAbsent(FatNames.caseKey(name), shown);
            if (other != null) {
                problems.add(shown + ": differs only in letter case from " + other
                        + ", and FAT names are case-insensitive");
            }
            dir.slots.add(slot);
            if (sub != null) {
                collect(sub, tree, spec, problems);
                slot.sub = sub;
            }
        }
    }

    private static String label(List<AppLayer> layers, FsNode node) {
        return node.layer() < 0 ? "merged" : layers.get(node.layer()).label();
    }

    /** Follows a symlink inside the merged tree; null when it leaves the tree, loops or names nothing. */
    static FsNode resolve(FsNode.Dir root, String fromDir, String target) {
        List<String> walked = new ArrayList<>();
        if (!target.startsWith("/") && !fromDir.isEmpty()) {
            walked.addAll(List.of(fromDir.split("/")));
        }
        java.util.Deque<String> todo = new java.util.ArrayDeque<>(parts(target));
        int hops = 0;
        while (!todo.isEmpty()) {
            String part = todo.poll();
            if (part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (walked.isEmpty()) {
                    return null;
                }
                walked.remove(walked.size() - 1);
                continue;
            }
            if (!(walk(root, walked) instanceof FsNode.Dir d)) {
                return null;
            }
            FsNode next = d.children().get(part);
            if (next == null) {
                return null;
            }
            if (next instanceof FsNode.Symlink s) {
                if (++hops > MAX_SYMLINK_HOPS) {
                    return null;
                }
                if (s.target().startsWith("/")) {
                    walked.clear();
                }
                List<String> hop = parts(s.target());
                for (int i = hop.size() - 1; i >= 0; i--) {
                    todo.push(hop.get(i));
                }
                continue;
            }
            walked.add(part);
        }
        return walk(root, walked);
    }

    private static List<String> parts(String path) {
        List<String> out = new ArrayList<>();
        for (String p : path.split("/")) {
            if (!p.isEmpty()) {
                out.add(p);
            }
        }
        return out;
    }

    private static FsNode walk(FsNode.Dir root, List<String> parts) {
        FsNode node = root;
        for (String p : parts) {
            if (!(node instanceof FsNode.Dir d)) {
                return null;
            }
            node = d.children().get(p);
        }
        return node;
    }

    /**
     * Names that already are valid 8.3 names keep them; the rest get basis names with the lowest free
     * {@code ~N} tail, in directory order, so the result does not depend on anything but the names.
     */
    private void assignShortNames(DirPlan dir, List<String> problems) {
        Set<String> taken = new HashSet<>();
        Map<String, Integer> nextTails = new HashMap<>();
        int entries = dir.isRoot() ? 1 : 2;          // volume label, or "." and ".."
        for (Slot slot : dir.slots) {
            byte[] exact = ShortNames.exact(slot.name);
            if (exact != null && taken.add(ShortNames.key(exact))) {
                slot.shortName = exact;
            }
        }
        for (Slot slot : dir.slots) {
            if (slot.shortName == null) {
                slot.shortName = ShortNames.choose(slot.name, taken, nextTails);
            }
            // A long name is needed unless the name is its own short name, letter for letter.
            slot.longName = !ShortNames.display(slot.shortName).equals(slot.name);
            entries += 1 + (slot.longName ? DirEntries.longEntryCount(slot.name) : 0);
        }
        if (entries > MAX_DIR_ENTRIES) {
            problems.add("/" + dir.path + ": " + entries + " directory entries, more than the " + MAX_DIR_ENTRIES
                    + " FAT allows in one directory");
        }
        dir.entryCount = entries;
    }

    private void allocate(List<AppLayer> layers) throws SynthesisException {
        int clusterSize = geometry.clusterSize();
        long cursor = 2;
        for (DirPlan dir : dirs) {
            dir.first = cursor;
            dir.clusters = Math.max(1, geometry.clustersFor((long) dir.entryCount * DirEntries.SIZE));
            cursor += dir.clusters;
            usedClusters += dir.clusters;
        }
        Map<String, Long> bytesByApp = new TreeMap<>();
        // With clusters smaller than 4 KiB, a file starts on the next 4 KiB boundary so its app blocks map onto
        // whole disk blocks; the clusters skipped stay free.
        long clustersPerBlock = Math.max(1, FatGeometry.DATA_ALIGNMENT / clusterSize);
        for (DirPlan dir : dirs) {
            for (Slot slot : dir.slots) {
                if (slot.file == null || slot.size() == 0) {
                    continue;
                }
                cursor = 2 + FatGeometry.ceilDiv(cursor - 2, clustersPerBlock) * clustersPerBlock;
                slot.first = cursor;
                slot.clusters = geometry.clustersFor(slot.size());
                cursor += slot.clusters;
                usedClusters += slot.clusters;
                bytesByApp.merge(layers.get(slot.file.layer()).label(), slot.clusters * clusterSize, Long::sum);
            }
        }
        nextFree = cursor;
        if (cursor > geometry.clusterLimit()) {
            List<String> details = new ArrayList<>();
            bytesByApp.forEach((app, bytes) -> details.add(app + " needs " + bytes + " bytes of clusters"));
            throw new SynthesisException("the apps do not fit: they need " + (cursor - 2) * clusterSize
                    + " bytes of FAT32 clusters but the partition has " + geometry.clusterCount * clusterSize
                    + "; choose a larger disk", details);
        }
    }
}
