package dev.dcd.catalog;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Temporary files that say who owns them, so none outlives its process.
 *
 * <p>A file is named {@code <prefix><pid>-<start>-<random><suffix>}: the owner's pid and the owner's start
 * time in milliseconds since the epoch (0 when the system does not tell). While the process runs, a shutdown
 * hook deletes the files it still holds, which covers SIGTERM, SIGINT (Ctrl-C) and {@code System.exit};
 * the file may still be open for writing then, which on Linux only unlinks it. SIGKILL runs no hook, so
 * {@link #sweep} removes the files whose owner is gone: no process with that pid, or one that started at
 * another time (the pid was reused). A file without an owner in its name is never touched.
 */
public final class OwnedTempFiles {
    private static final Pattern OWNED = Pattern.compile("(\\d+)-(\\d+)-\\d+");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();
    private static volatile boolean hookInstalled;

    private OwnedTempFiles() {
    }

    /** Creates an empty file owned by this process; {@link #delete} it when done. */
    public static Path create(Path dir, String prefix, String suffix) throws IOException {
        installHook();
        ProcessHandle self = ProcessHandle.current();
        Files.createDirectories(dir);
        while (true) {
            Path file = dir.resolve(prefix + self.pid() + "-" + startMillis(self) + "-"
                    + Long.toUnsignedString(RANDOM.nextLong()) + suffix);
            HELD.add(file);
            try {
                return Files.createFile(file);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                HELD.remove(file);
            } catch (IOException | RuntimeException e) {
                HELD.remove(file);
                throw e;
            }
        }
    }

    /** Deletes a file made by {@link #create} and forgets it. */
    public static void delete(Path file) throws IOException {
        try {
            Files.deleteIfExists(file);
        } finally {
            HELD.remove(file);
        }
    }

    /** Removes the files named {@code prefix…suffix} in {@code dir} whose owner is gone; returns them. */
    public static List<Path> sweep(Path dir, String prefix, String suffix) throws IOException {
        return sweep(dir, prefix, suffix, pid -> ProcessHandle.of(pid).filter(ProcessHandle::isAlive));
    }

    /** {@link #sweep} with the process table injected, for tests. */
    static List<Path> sweep(Path dir, String prefix, String suffix, LongFunction<Optional<ProcessHandle>> processes)
            throws IOException {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return removed;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob(prefix) + "*" + glob(suffix))) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                Matcher m = OWNED.matcher(name.substring(prefix.length(), name.length() - suffix.length()));
                if (m.matches() && !alive(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), processes)) {
                    try {
                        Files.delete(file);
                        removed.add(file);
                    } catch (NoSuchFileException e) {
                        // Another sweep got there first.
                    }
                }
            }
        }
        return removed;
    }

    private static boolean alive(long pid, long start, LongFunction<Optional<ProcessHandle>> processes) {
        Optional<ProcessHandle> process = processes.apply(pid);
        if (process.isEmpty()) {
            return false;
        }
        long actual = startMillis(process.get());
        // Unknown start times (0) cannot prove a reuse; keep the file rather than delete a live one's.
        return start == 0 || actual == 0 || actual == start;
    }

    private static long startMillis(ProcessHandle process) {
        return process.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }

    private static String glob(String literal) {
        return literal.replaceAll("([*?\\[\\]{}\\\\])", "\\\\$1");
    }

    private static void installHook() {
        if (hookInstalled) {
            return;
        }
        synchronized (OwnedTempFiles.class) {
            if (!hookInstalled) {
                Runtime.getRuntime().addShutdownHook(new Thread(OwnedTempFiles::deleteHeld, "dcd-temp-cleanup"));
                hookInstalled = true;
            }
        }
    }

    /** What the shutdown hook runs: best effort, the process is going away. */
    static void deleteHeld() {
        for (Path file : HELD) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // Left for the next sweep.
            }
        }
    }
}
