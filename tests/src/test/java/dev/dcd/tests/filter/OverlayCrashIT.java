package dev.dcd.tests.filter;

import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.TestGeneration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * kill -9 a process in the middle of guest writes, reopen the generation, and check that every write
 * acknowledged before the last completed flush is there, that nothing written after it shows up as garbage
 * (each block is either its old or its new content), and that everything else is untouched.
 */
class OverlayCrashIT {
    @TempDir
    Path temp;

    private Process child(Path generation, Path store, int first, int last) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), generation.toString(), store.toString(),
                Integer.toString(first), Integer.toString(last));
        pb.redirectError(temp.resolve("child-" + first + ".err").toFile());
        return pb.start();
    }

    /** Runs a child until it acknowledged the flush of round {@code killAfter}, then SIGKILLs it; returns the last acknowledged round. */
    private int runAndKill(Path generation, Path store, int first, int last, int killAfter) throws Exception {
        Process p = child(generation, store, first, last);
        int acked = first - 1;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("flushed ")) {
                    acked = Integer.parseInt(line.substring(8));
                    if (acked >= killAfter) {
                        break;
                    }
                } else if (line.equals("done")) {
                    break;
                }
            }
            p.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no close, no final flush
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            // Destroying the process closes our end of its pipe, so later acknowledgements are not seen; the
            // rounds past the last one read are checked as "old or new data, block by block" instead.
        } finally {
            p.destroyForcibly();
        }
        assertNotEquals(0, p.exitValue(), "the child was killed, it did not exit");
        assertTrue(acked >= killAfter, "child acknowledged only up to round " + acked + "; stderr: "
                + Files.readString(temp.resolve("child-" + first + ".err")));
        return acked;
    }

    private static byte[] read(FileChannel c, long offset, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        dev.dcd.block.FileBlockDevice.readFully(c, offset, b, "reference");
        return b.array();
    }

    private static byte[] read(DynamicContentDisk disk, long offset, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        disk.read(offset, b);
        return b.array();
    }

    /** Checks rounds [0, rounds) and the rest of the disk against the reference and the plan. */
    private static void verify(Path generation, Path store, Path reference, int rounds, List<Integer> ackedRanges)
            throws IOException {
        try (DynamicContentDisk disk = CrashPlan.open(generation, store);
             FileChannel ref = FileChannel.open(reference, StandardOpenOption.READ)) {
            for (int r = 0; r < rounds; r++) {
                long start = CrashPlan.areaStart(r);
                byte[] old = read(ref, start, CrashPlan.AREA);
                byte[] expected = old.clone();
                for (CrashPlan.Write w : CrashPlan.round(r)) {
                    System.arraycopy(w.data(), 0, expected, (int) (w.offset() - start), w.data().length);
                }
                byte[] got = read(disk, start, CrashPlan.AREA);
                if (isAcked(r, ackedRanges)) {
                    assertArrayEquals(expected, got, "round " + r + " was acknowledged by a flush");
                } else {
                    for (int b = 0; b < CrashPlan.AREA; b += 4096) {
                        byte[] block = Arrays.copyOfRange(got, b, b + 4096);
                        assertTrue(Arrays.equals(block, Arrays.copyOfRange(old, b, b + 4096))
                                        || Arrays.equals(block, Arrays.copyOfRange(expected, b, b + 4096)),
                                "unflushed round " + r + " block " + b / 4096 + " is neither old nor new data");
                    }
                }
            }
            long from = CrashPlan.areaStart(rounds);
            for (long pos = from; pos < disk.size(); pos += 1 << 20) {
                int n = (int) Math.min(1 << 20, disk.size() - pos);
                assertArrayEquals(read(ref, pos, n), read(disk, pos, n), "untouched bytes at " + pos);
            }
        }
    }

    private static boolean isAcked(int round, List<Integer> ackedRanges) {
        for (int i = 0; i < ackedRanges.size(); i += 2) {
            if (round >= ackedRanges.get(i) && round <= ackedRanges.get(i + 1)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void everyWriteAcknowledgedByAFlushSurvivesKillNine() throws Exception {
        TestGeneration gen = TestGeneration.create(temp, "local", TestGeneration.Shape.SMALL, 5);
        Path reference = gen.materialize(temp.resolve("reference.raw"));
        assertFalse(DynamicContentDisk.hasWrites(gen.dir));

        int acked1 = runAndKill(gen.dir, gen.storeDir, 0, 100, 12);
        assertTrue(DynamicContentDisk.hasWrites(gen.dir));
        verify(gen.dir, gen.storeDir, reference, 101, List.of(0, acked1));

        // A second life on the recovered overlay, killed again: both lives' acknowledged writes are there.
        int acked2 = runAndKill(gen.dir, gen.storeDir, 110, 200, 125);
        verify(gen.dir, gen.storeDir, reference, 201, List.of(0, acked1, 110, acked2));
    }
}
