package dev.dcd.tests.vmmount;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The packaged {@code dcd.jar} and the system tools, each run as a separate process with a deadline. Output
 * goes to files, not pipes: {@code dcd mount} leaves a serving process behind that inherits them, and a
 * pipe would keep the reader waiting for that process to end.
 */
public final class VmCli {
    public static final Path JAR = Path.of(System.getProperty("dcd.jar", "../shell/target/dcd.jar")).toAbsolutePath().normalize();
    /** GPT partition 1 starts at 1 MiB on every disk dcd synthesizes. */
    public static final long PARTITION_OFFSET = 1L << 20;

    public record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private VmCli() {
    }

    public static Result dcd(Path home, String... args) {
        List<String> command = new ArrayList<>(List.of("java", "-jar", JAR.toString(), "--home", home.toString()));
        command.addAll(List.of(args));
        return run(command, 300);
    }

    public static Result dcdOk(Path home, String... args) {
        Result r = dcd(home, args);
        if (r.code() != 0) {
            throw new AssertionError("dcd " + String.join(" ", args) + " failed: " + r);
        }
        return r;
    }

    public static Result run(String... command) {
        return run(List.of(command), 300);
    }

    /** Runs a tool that must succeed; returns its stdout. */
    public static String ok(String... command) {
        Result r = run(command);
        if (r.code() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed: " + r);
        }
        return r.out();
    }

    /** Cleanup in finally blocks: never throws, never hangs for long. */
    public static void quietly(String... command) {
        try {
            run(List.of(command), 30);
        } catch (AssertionError | RuntimeException e) {
            // best effort
        }
    }

    static Result run(List<String> command, int timeoutSeconds) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("vmcli-out", ".txt");
            err = Files.createTempFile("vmcli-err", ".txt");
            ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().remove("DCD_HOME");
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " timed out after " + timeoutSeconds + " s");
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command.get(0) + " (is it installed?): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            try {
                if (out != null) {
                    Files.deleteIfExists(out);
                }
                if (err != null) {
                    Files.deleteIfExists(err);
                }
            } catch (IOException ignored) {
                // temp files only
            }
        }
    }

    /** Hashes a file; a read error (EIO through a mount, say) is the IOException itself, which tests assert on. */
    public static String sha256(Path file) throws IOException {
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(file)) {
            return dev.dcd.testing.Hashes.sha256(in);
        }
    }

    /**
     * Every entry below {@code root} by relative path: files as sha256 + mode + owner, symlinks as their
     * target, directories as mode + owner. {@code withOwners} false leaves out what FAT32 cannot keep.
     */
    public static Map<String, String> describeTree(Path root, boolean withOwners) throws IOException {
        Map<String, String> found = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                String rel = root.relativize(p).toString();
                if (rel.isEmpty() || rel.equals("lost+found") || rel.startsWith("lost+found/")) {
                    continue;
                }
                PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
                String owner = withOwners ? String.format(" %04o %d:%d", mode, (Integer) Files.getAttribute(p, "unix:uid",
                        LinkOption.NOFOLLOW_LINKS), (Integer) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS)) : "";
                if (a.isSymbolicLink()) {
                    found.put(rel, "symlink -> " + Files.readSymbolicLink(p));
                } else if (a.isDirectory()) {
                    found.put(rel, "dir" + owner);
                } else {
                    found.put(rel, "file " + sha256(p) + owner);
                }
            }
        }
        return found;
    }

    /** Only the regular files, as sha256. */
    public static Map<String, String> fileHashes(Path root) throws IOException {
        Map<String, String> found = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    found.put(root.relativize(p).toString(), sha256(p));
                }
            }
        }
        return found;
    }
}
