package dev.dcd.tests.mount;

import dev.dcd.synth.FileIndex;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * A GPT disk holding one ext4 partition at 1 MiB, made by the real tools (truncate, sfdisk, mke2fs -d), and the
 * {@link FileIndex} of its files with extents learned from debugfs: what a synthesizer would hand to the mount.
 */
final class TestDisk {
    static final long PARTITION_OFFSET = 1L << 20;
    static final int BLOCK = 4096;

    final Path image;
    final Path index;
    final Path descriptor;
    final Path tree;
    final long size;
    final long partitionLength;

    private TestDisk(Path image, Path index, Path descriptor, Path tree, long size, long partitionLength) {
        this.image = image;
        this.index = index;
        this.descriptor = descriptor;
        this.tree = tree;
        this.size = size;
        this.partitionLength = partitionLength;
    }

    /** Builds the disk for {@code tree} into {@code dir}: disk.img, files.idx, disk.vmdk. */
    static TestDisk build(Path tree, Path dir, long diskSize) throws IOException {
        Files.createDirectories(dir);
        Path fs = dir.resolve("fs.img");
        long partitionLength = diskSize - PARTITION_OFFSET - PARTITION_OFFSET; // room for the backup GPT
        Tools.ok("mke2fs", "-q", "-F", "-t", "ext4", "-b", Integer.toString(BLOCK), "-d", tree.toString(),
                fs.toString(), (partitionLength / 1024) + "k");
        Path image = dir.resolve("disk.img");
        Tools.ok("truncate", "-s", Long.toString(diskSize), image.toString());
        Path script = dir.resolve("gpt.sfdisk");
        Files.writeString(script, "label: gpt\nstart=2048, size=" + (partitionLength / 512) + ", type=L, name=dcd\n");
        Tools.Result r = Tools.run(List.of("sh", "-c", "sfdisk -q " + image + " < " + script), null, 60);
        if (r.code() != 0) {
            throw new AssertionError("sfdisk: " + r.all());
        }
        Tools.ok("dd", "if=" + fs, "of=" + image, "bs=1M", "seek=1", "conv=notrunc,fsync", "status=none");
        Path index = dir.resolve(FileIndex.FILE_NAME);
        writeIndex(tree, fs, index);
        Files.delete(fs);
        Path descriptor = dir.resolve("disk.vmdk");
        Files.writeString(descriptor, flatDescriptor(diskSize, "disk.img"));
        return new TestDisk(image, index, descriptor, tree, diskSize, partitionLength);
    }

    /** A minimal monolithicFlat descriptor, as qemu-img and VMware read it. */
    static String flatDescriptor(long size, String extentFile) {
        long sectors = size / 512;
        long cylinders = Math.min(16383, sectors / (16 * 63));
        return "# Disk DescriptorFile\n"
                + "version=1\n"
                + "CID=12345678\n"
                + "parentCID=ffffffff\n"
                + "createType=\"monolithicFlat\"\n\n"
                + "# Extent description\n"
                + "RW " + sectors + " FLAT \"" + extentFile + "\" 0\n\n"
                + "# The Disk Data Base\n"
                + "#DDB\n\n"
                + "ddb.virtualHWVersion = \"4\"\n"
                + "ddb.geometry.cylinders = \"" + cylinders + "\"\n"
                + "ddb.geometry.heads = \"16\"\n"
                + "ddb.geometry.sectors = \"63\"\n"
                + "ddb.adapterType = \"lsilogic\"\n";
    }

    /** One debugfs run asks for every file's blocks; runs of consecutive blocks become one extent. */
    private static void writeIndex(Path tree, Path fs, Path index) throws IOException {
        List<Path> all;
        try (Stream<Path> s = Files.walk(tree)) {
            all = s.sorted((a, b) -> tree.relativize(a).toString().compareTo(tree.relativize(b).toString())).toList();
        }
        StringBuilder cmds = new StringBuilder();
        for (Path p : all) {
            if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                cmds.append("blocks \"/").append(tree.relativize(p)).append("\"\n");
            }
        }
        Path cmdFile = fs.resolveSibling("debugfs.cmds");
        Files.writeString(cmdFile, cmds);
        String out = Tools.ok("debugfs", "-f", cmdFile.toString(), fs.toString());
        Map<String, long[]> blocks = new HashMap<>();
        String current = null;
        for (String line : out.split("\n")) {
            if (line.startsWith("debugfs: blocks \"/")) {
                current = line.substring("debugfs: blocks \"/".length(), line.length() - 1);
            } else if (current != null) {
                String t = line.strip();
                blocks.put(current, t.isEmpty() ? new long[0]
                        : Stream.of(t.split("\\s+")).mapToLong(Long::parseLong).toArray());
                current = null;
            }
        }
        try (FileIndex.Writer w = new FileIndex.Writer(index, Long.MAX_VALUE)) {   // extents are checked against the image by its users
            for (Path p : all) {
                String rel = tree.relativize(p).toString();
                Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
                int mode = (Integer) a.get("mode") & 07777;
                int uid = (Integer) a.get("uid");
                int gid = (Integer) a.get("gid");
                int links = (Integer) a.get("nlink");
                long ino = (Long) a.get("ino");
                FileTime mtime = (FileTime) a.get("lastModifiedTime");
                long seconds = mtime.toInstant().getEpochSecond();
                int nanos = mtime.toInstant().getNano();
                if (Files.isSymbolicLink(p)) {
                    String target = Files.readSymbolicLink(p).toString();
                    w.add(new FileIndex.Node(rel, FileIndex.Kind.SYMLINK, mode, uid, gid, seconds, nanos,
                            target.getBytes(StandardCharsets.UTF_8).length, links, ino, target, new long[0]));
                } else if (Files.isDirectory(p)) {
                    w.add(new FileIndex.Node(rel, FileIndex.Kind.DIRECTORY, mode, uid, gid, seconds, nanos, 0,
                            links, ino, "", new long[0]));
                } else {
                    long[] b = blocks.get(rel);
                    if (b == null) {
                        throw new AssertionError("debugfs listed no blocks for " + rel);
                    }
                    w.add(new FileIndex.Node(rel, FileIndex.Kind.FILE, mode, uid, gid, seconds, nanos, Files.size(p),
                            links, ino, "", extents(b)));
                }
            }
        }
    }

    private static long[] extents(long[] blocks) {
        List<Long> out = new ArrayList<>();
        int i = 0;
        while (i < blocks.length) {
            int j = i;
            while (j + 1 < blocks.length && blocks[j + 1] == blocks[j] + 1) {
                j++;
            }
            out.add(PARTITION_OFFSET + blocks[i] * BLOCK);
            out.add((long) (j - i + 1) * BLOCK);
            i = j + 1;
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * Writes files f0.bin, f1.bin, ... of the given sizes with bytes of {@code new Random(seed)}, alternating
     * between {@code evenDir} and {@code oddDir} (relative to {@code tree}, created as needed), so that a tree has
     * files of awkward sizes in more than one directory.
     */
    static void writeRandomFiles(Path tree, long seed, int[] sizes, String evenDir, String oddDir) throws IOException {
        Files.createDirectories(tree.resolve(evenDir));
        Files.createDirectories(tree.resolve(oddDir));
        Random random = new Random(seed);
        for (int i = 0; i < sizes.length; i++) {
            byte[] b = new byte[sizes[i]];
            random.nextBytes(b);
            Files.write(tree.resolve(i % 2 == 0 ? evenDir : oddDir).resolve("f" + i + ".bin"), b);
        }
    }

    static String sha256(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
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

    static String sha256OfBytes(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** sha256 of every regular file under root, by relative path. */
    static Map<String, String> digests(Path root) throws IOException {
        Map<String, String> out = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    out.put(root.relativize(p).toString(), sha256(p));
                }
            }
        }
        return out;
    }
}
