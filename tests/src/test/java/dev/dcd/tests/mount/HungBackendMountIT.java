package dev.dcd.tests.mount;

import dev.dcd.tests.mount.MountSandbox.Dcd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-backend isolation on the (default, supervised) low-level server: the files under {@code slow/} live on a
 * backend that stops answering ({@link HungBackend}), those under {@code fast/} do not. Reads of the hung files,
 * more of them at once than the mount has loop threads, must get EIO at the backend's deadline, and while they
 * wait every other request - names, attributes, {@code stats.json}, the other files' bytes - must be answered.
 * Root (FUSE).
 */
class HungBackendMountIT {
    private static final long DISK_SIZE = 64L << 20;
    /** More than the loop threads of a mount with a remote backend (MountOptions.REMOTE_THREADS = 16). */
    private static final int HUNG_READERS = 24;
    private static final long DEADLINE_MS = 15_000;
    private static final Pattern WAITING = Pattern.compile("\"waiting\":(\\d+)");

    @TempDir
    static Path shared;
    private static TestDisk disk;
    private static Map<String, String> treeDigests;

    @TempDir
    Path tmp;
    private MountSandbox sandbox;

    @BeforeAll
    static void buildDisk() throws IOException {
        Path tree = shared.resolve("tree");
        int[] sizes = new int[2 * HUNG_READERS];
        Arrays.fill(sizes, 65536);
        TestDisk.writeRandomFiles(tree, 5, sizes, "slow", "fast"); // f0, f2, ... in slow/; f1, f3, ... in fast/
        disk = TestDisk.build(tree, shared.resolve("built"), DISK_SIZE);
        treeDigests = TestDisk.digests(tree);
    }

    @BeforeEach
    void newHome() throws IOException {
        sandbox = new MountSandbox(tmp, disk);
        sandbox.addVm("web1");
        Files.writeString(sandbox.home().resolve("vms/web1").resolve(HungBackend.FILE),
                "dir=slow\nmillis=" + DEADLINE_MS + "\n");
    }

    @AfterEach
    void cleanUp() {
        sandbox.close();
    }

    @Test
    void readsOfAHungBackendFailWithEioAtItsDeadlineWhileEveryOtherRequestIsAnswered() throws Exception {
        Path mp = sandbox.mountpoint("mnt");
        Dcd mounted = sandbox.dcd("mount", "web1", mp.toString());
        assertEquals(0, mounted.code(), mounted.err());
        assertTrue(sandbox.mountRecord("web1", "server-pid") > 0, "supervised by default: the low-level server serves");

        List<Process> hung = new ArrayList<>();
        for (int i = 0; i < 2 * HUNG_READERS; i += 2) {
            // O_DIRECT: exactly one READ request per reader, no readahead.
            hung.add(new ProcessBuilder("dd", "if=" + mp.resolve("files/slow/f" + i + ".bin"), "of=/dev/null", "bs=64k",
                    "count=1", "iflag=direct", "status=none").redirectErrorStream(true).start());
        }
        awaitWaiting(mp, HUNG_READERS);

        // Every hung read has reached the backend and waits; the mount keeps answering everything else.
        for (Map.Entry<String, String> e : treeDigests.entrySet()) {
            if (e.getKey().startsWith("fast/")) {
                assertEquals(e.getValue(), TestDisk.sha256(mp.resolve("files").resolve(e.getKey())), e.getKey());
            }
        }
        try (Stream<Path> names = Files.list(mp.resolve("files/slow"))) {
            assertEquals(HUNG_READERS, names.count());
        }
        assertEquals(65536, Files.size(mp.resolve("files/slow/f0.bin")));
        assertEquals(DISK_SIZE, Files.size(mp.resolve("disk.img")));
        assertEquals(HUNG_READERS, waiting(mp), "the hung reads were all still waiting while that was answered");

        for (int i = 0; i < hung.size(); i++) {
            Process p = hung.get(i);
            assertTrue(p.waitFor(DEADLINE_MS + 60_000, TimeUnit.MILLISECONDS), "bounded: each ends at the deadline");
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertNotEquals(0, p.exitValue(), out);
            assertTrue(out.contains("Input/output error"), "slow/f" + 2 * i + ".bin: " + out);
        }
        String log = Files.readString(sandbox.home().resolve("log/mount-web1.log"));
        for (int i = 0; i < 2 * HUNG_READERS; i += 2) {
            String prefix = "dcd-fuse: read /files/slow/f" + i + ".bin at 0+65536 failed, returning EIO: ";
            assertTrue(log.lines().anyMatch(l -> l.startsWith(prefix)
                    && l.endsWith("backend 'hung' did not answer within " + DEADLINE_MS + " ms")), prefix + "\n" + log);
        }
        assertEquals(0, waiting(mp));
        assertEquals(treeDigests.get("fast/f1.bin"), TestDisk.sha256(mp.resolve("files/fast/f1.bin")), "still serving");
    }

    /** Reads currently waiting on the hung backend, from a fresh stats.json (direct_io: each open asks the server). */
    private static int waiting(Path mp) throws IOException {
        Matcher m = WAITING.matcher(Files.readString(mp.resolve("stats.json")));
        assertTrue(m.find(), "stats.json counts waiting reads");
        return Integer.parseInt(m.group(1));
    }

    private static void awaitWaiting(Path mp, int n) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int seen;
        while ((seen = waiting(mp)) < n) {
            assertTrue(System.nanoTime() < deadline, "only " + seen + " of " + n + " hung reads reached the backend");
            Thread.sleep(20); // polling a counter in another process, with a deadline
        }
    }
}
