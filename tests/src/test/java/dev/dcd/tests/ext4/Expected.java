package dev.dcd.tests.ext4;

import dev.dcd.synth.AppLayer;
import dev.dcd.vdisk.Entry;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a synthesized disk must show, computed from the apps' manifests alone (highest priority first,
 * shared directories keep the first app's attributes), and a checker that walks a mounted filesystem.
 */
final class Expected {
    record Node(char type, int mode, int uid, int gid, long mtime, int nanos, String sha256, String target, int nlink) {
    }

    final Map<String, Node> nodes = new TreeMap<>();

    static Expected of(List<AppLayer> layers) {
        Expected e = new Expected();
        List<AppLayer> order = new ArrayList<>(layers);
        order.sort(Comparator.comparingInt(AppLayer::priority).reversed());
        for (AppLayer layer : order) {
            Map<String, Integer> names = new HashMap<>();
            for (Entry en : layer.manifest().entries()) {
                if (en.isFile()) {
                    names.merge(en.path(), 1, Integer::sum);
                } else if (en.isHardlink()) {
                    names.merge(en.target(), 1, Integer::sum);
                }
            }
            for (Entry en : layer.manifest().entries()) {
                if (en.path().isEmpty() || e.nodes.containsKey(en.path())) {
                    continue;
                }
                Node n;
                if (en.isDirectory()) {
                    n = new Node('d', en.mode(), en.uid(), en.gid(), en.mtimeSeconds(), en.mtimeNanos(), "", "", 0);
                } else if (en.isSymlink()) {
                    n = new Node('l', 0777, en.uid(), en.gid(), en.mtimeSeconds(), en.mtimeNanos(), "", en.target(), 1);
                } else {
                    String primary = en.isHardlink() ? en.target() : en.path();
                    n = new Node('f', en.mode(), en.uid(), en.gid(), en.mtimeSeconds(), en.mtimeNanos(), en.sha256Hex(), "",
                            names.get(primary));
                }
                e.nodes.put(en.path(), n);
            }
        }
        return e;
    }

    int subdirectories(String dir) {
        String prefix = dir.isEmpty() ? "" : dir + "/";
        int n = 0;
        for (Map.Entry<String, Node> en : nodes.entrySet()) {
            String p = en.getKey();
            if (en.getValue().type() == 'd' && p.startsWith(prefix) && p.indexOf('/', prefix.length()) < 0 && !p.equals(dir)) {
                n++;
            }
        }
        return n;
    }

    /**
     * Returns every mismatch between the mounted tree and the expectation (empty when they agree).
     * {@code checkNanos} is off for fuse2fs, which reports whole seconds even for filesystems mke2fs made.
     */
    List<String> check(Path mount, boolean checkNanos) throws IOException {
        List<String> problems = new ArrayList<>();
        Map<String, Path> actual = new TreeMap<>();
        try (Stream<Path> s = Files.walk(mount)) {
            s.forEach(p -> {
                String rel = mount.relativize(p).toString();
                if (!rel.isEmpty() && !rel.equals("lost+found") && !rel.startsWith("lost+found/")) {
                    actual.put(rel, p);
                }
            });
        }
        if (!Files.isDirectory(mount.resolve("lost+found"))) {
            problems.add("no lost+found");
        }
        for (String p : nodes.keySet()) {
            if (!actual.containsKey(p)) {
                problems.add("missing " + p);
            }
        }
        for (String p : actual.keySet()) {
            if (!nodes.containsKey(p)) {
                problems.add("unexpected " + p);
            }
        }
        Map<String, Integer> subdirs = new HashMap<>();
        for (String p : nodes.keySet()) {
            if (nodes.get(p).type() == 'd') {
                int slash = p.lastIndexOf('/');
                subdirs.merge(slash < 0 ? "" : p.substring(0, slash), 1, Integer::sum);
            }
        }
        for (Map.Entry<String, Node> en : nodes.entrySet()) {
            Path p = actual.get(en.getKey());
            if (p == null) {
                continue;
            }
            Node n = en.getValue();
            Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,nlink,lastModifiedTime", LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) a.get("mode");
            char type = switch (mode & 0170000) {
                case 0040000 -> 'd';
                case 0120000 -> 'l';
                case 0100000 -> 'f';
                default -> '?';
            };
            String where = en.getKey() + ": ";
            if (type != n.type()) {
                problems.add(where + "type " + type + " != " + n.type());
                continue;
            }
            if ((mode & 07777) != n.mode()) {
                problems.add(where + "mode " + Integer.toOctalString(mode & 07777) + " != " + Integer.toOctalString(n.mode()));
            }
            if (((Integer) a.get("uid") != n.uid() || (Integer) a.get("gid") != n.gid())) {
                problems.add(where + "owner " + a.get("uid") + ":" + a.get("gid") + " != " + n.uid() + ":" + n.gid());
            }
            Instant t = ((FileTime) a.get("lastModifiedTime")).toInstant();
            if (t.getEpochSecond() != n.mtime() || (checkNanos && t.getNano() != n.nanos())) {
                problems.add(where + "mtime " + t + " != " + Instant.ofEpochSecond(n.mtime(), n.nanos()));
            }
            int nlink = (Integer) a.get("nlink");
            int expectedLinks = n.type() == 'd' ? 2 + subdirs.getOrDefault(en.getKey(), 0) : n.nlink();
            if (nlink != expectedLinks) {
                problems.add(where + "nlink " + nlink + " != " + expectedLinks);
            }
            if (n.type() == 'l' && !Files.readSymbolicLink(p).toString().equals(n.target())) {
                problems.add(where + "target " + Files.readSymbolicLink(p) + " != " + n.target());
            }
            if (n.type() == 'f' && !sha256(p).equals(n.sha256())) {
                problems.add(where + "content differs");
            }
        }
        return problems;
    }

    static String sha256(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
