package dev.dcd.tests.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.vmmount.VmCli.dcd;
import static dev.dcd.tests.vmmount.VmCli.dcdOk;

/**
 * {@code nbdcopy} of a whole VM disk to {@code null:} from dcd's NBD export against {@code nbdkit file}
 * serving {@code dcd disk export} of the same generation (the same bytes, a sparse file whose holes nbdkit
 * reports through SEEK_HOLE). Two modes per server: with block status (what nbdcopy does by default: holes
 * are skipped) and {@code --no-extents} (every byte read). Rounds alternate the servers so drift in the
 * machine's load hits both alike.
 *
 * <p>Run: {@code mvn -B -o -pl tests -am verify -Dit.test=NbdCopyBench -Dtest=NONE
 * -Dsurefire.failIfNoSpecifiedTests=false}; -Dbench.rounds (default 5), -Dbench.mib (app data, default 512), -Dbench.warmup (untimed copies
 * per server and mode first, default 5).
 * Results go to stderr and tests/target/bench/nbd-copy.txt.
 */
class NbdCopyBench {
    private static final int ROUNDS = Integer.getInteger("bench.rounds", 5);
    private static final int DATA_MIB = Integer.getInteger("bench.mib", 512);
    private static final int WARMUP = Integer.getInteger("bench.warmup", 5);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void nbdcopyOfTheWholeDiskAgainstNbdkitFile() throws Exception {
        Path home = tmp.resolve("home");
        Path app = tmp.resolve("app");
        Random random = new Random(1);
        byte[] chunk = new byte[BenchMath.MIB];
        for (int f = 0; f < 8; f++) {
            Path dir = Files.createDirectories(app.resolve("data/d" + f));
            try (var out = Files.newOutputStream(dir.resolve("blob.bin"))) {
                for (int i = 0; i < DATA_MIB / 8; i++) {
                    random.nextBytes(chunk);
                    out.write(chunk);
                }
            }
        }
        long diskBytes = (DATA_MIB * 2L + 512) << 20;
        dcdOk(home, "catalog", "import", app.toString(), "--name", "blobs", "--version", "1");
        dcdOk(home, "vm", "create", "bench", "--size", (diskBytes >> 20) + "M");
        dcdOk(home, "vm", "assign", "bench", "blobs");
        dcdOk(home, "disk", "build", "bench");
        Path raw = tmp.resolve("bench.raw");
        dcdOk(home, "disk", "export", "bench", raw.toString());

        Path dcdSocket = tmp.resolve("dcd.sock");
        String dcdUri = JSON.readTree(dcdOk(home, "--json", "serve", "bench", "--nbd", "unix:" + dcdSocket, "--background",
                "--read-only").out()).get("uri").asText();
        Path kitSocket = tmp.resolve("kit.sock");
        Process nbdkit = new ProcessBuilder("nbdkit", "--foreground", "--readonly", "--exportname=bench", "-U",
                kitSocket.toString(), "file", raw.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            String kitUri = "nbd+unix:///bench?socket=" + kitSocket;
            awaitServing(kitUri, nbdkit);
            List<String> lines = new ArrayList<>();
            lines.add(String.format("disk %d MiB, app data %d MiB, %d warm-up copies, %d rounds, load at start: %s",
                    diskBytes >> 20, DATA_MIB, WARMUP, ROUNDS, Files.readString(Path.of("/proc/loadavg")).strip()));
            for (boolean extents : new boolean[] {true, false}) {
                double[] dcd = new double[ROUNDS];
                double[] kit = new double[ROUNDS];
                // Warm-up: the page cache of the vdisk and of the raw file alike, and the serving JVM's JIT.
                for (int w = 0; w < WARMUP; w++) {
                    copy(dcdUri, extents);
                    copy(kitUri, extents);
                }
                for (int r = 0; r < ROUNDS; r++) {
                    if (r % 2 == 0) {
                        dcd[r] = copy(dcdUri, extents);
                        kit[r] = copy(kitUri, extents);
                    } else {
                        kit[r] = copy(kitUri, extents);
                        dcd[r] = copy(dcdUri, extents);
                    }
                }
                double[] ratio = new double[ROUNDS];
                for (int r = 0; r < ROUNDS; r++) {
                    ratio[r] = kit[r] / dcd[r];
                }
                lines.add(String.format("%-14s dcd %7.3f s (%.3f–%.3f)  nbdkit file %7.3f s (%.3f–%.3f)  "
                                + "ratio nbdkit/dcd time %.2f× (%.2f–%.2f×)  dcd %.0f MiB/s of disk",
                        extents ? "block status" : "--no-extents", median(dcd), min(dcd), max(dcd), median(kit), min(kit),
                        max(kit), median(ratio), min(ratio), max(ratio), (diskBytes >> 20) / median(dcd)));
            }
            guestReads(tmp, dcdUri, kitUri, lines);
            lines.add("load at end: " + Files.readString(Path.of("/proc/loadavg")).strip());
            PrintStream err = System.err;
            lines.forEach(err::println);
            Path out = Path.of("target", "bench", "nbd-copy.txt");
            Files.createDirectories(out.getParent());
            Files.write(out, lines);
        } finally {
            nbdkit.destroy();
            if (!nbdkit.waitFor(10, TimeUnit.SECONDS)) {
                nbdkit.destroyForcibly();
            }
            dcd(home, "serve", "--stop", "bench");
        }
    }

    /**
     * A guest's sequential read of one 1/8 of the app data with busybox dd, timed on the guest's own clock
     * (/proc/uptime, 10 ms resolution), over each server, alternating. Under TCG the guest's CPU emulation is
     * part of the figure for both servers alike.
     */
    private static void guestReads(Path tmp, String dcdUri, String kitUri, List<String> lines) throws Exception {
        int rounds = Integer.getInteger("bench.guestRounds", 3);
        dev.dcd.tests.guest.GuestKernel kernel = dev.dcd.tests.guest.GuestKernel.get();
        String script = """
                $B mount -o ro -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                echo "DCD-T0 $($B cut -d' ' -f1 /proc/uptime)"
                $B dd if=/mnt/data/d0/blob.bin of=/dev/null bs=1M 2>/dev/null
                echo "DCD-T1 $($B cut -d' ' -f1 /proc/uptime)"
                """;
        double[] dcd = new double[rounds];
        double[] kit = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                boolean dcdFirst = r % 2 == 0;
                boolean isDcd = (k == 0) == dcdFirst;
                dev.dcd.tests.guest.Guest.Boot boot = dev.dcd.tests.guest.Guest.boot(kernel,
                        tmp.resolve("guest-" + r + "-" + k), isDcd ? dcdUri : kitUri, true,
                        dev.dcd.tests.guest.Guest.EXT4, script);
                double t = Double.parseDouble(boot.values("DCD-T1").get(0)) - Double.parseDouble(boot.values("DCD-T0").get(0));
                (isDcd ? dcd : kit)[r] = t;
            }
        }
        double[] ratio = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            ratio[r] = kit[r] / dcd[r];
        }
        lines.add(String.format("%-14s dcd %7.3f s (%.3f–%.3f)  nbdkit file %7.3f s (%.3f–%.3f)  "
                        + "ratio nbdkit/dcd time %.2f× (%.2f–%.2f×)  guest dd of %d MiB", "guest dd", median(dcd), min(dcd),
                max(dcd), median(kit), min(kit), max(kit), median(ratio), min(ratio), max(ratio), DATA_MIB / 8));
    }

    /** Wall time of one nbdcopy of the whole export to null:, in seconds. */
    private static double copy(String uri, boolean extents) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("nbdcopy"));
        if (!extents) {
            command.add("--no-extents");
        }
        command.add(uri);
        command.add("null:");
        long start = System.nanoTime();
        Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new AssertionError("nbdcopy " + uri + " failed");
        }
        return (System.nanoTime() - start) / 1e9;
    }

    /** nbdkit --foreground has no readiness signal but its socket: poll with a deadline until a client gets in. */
    private static void awaitServing(String uri, Process server) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (VmCli.run("nbdinfo", "--size", uri).code() != 0) {
            if (!server.isAlive()) {
                throw new AssertionError("nbdkit exited with " + server.exitValue());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("nbdkit did not start serving " + uri + " within 30 s");
            }
            server.waitFor(50, TimeUnit.MILLISECONDS);
        }
    }

    private static double min(double[] v) {
        double m = Double.MAX_VALUE;
        for (double x : v) {
            m = Math.min(m, x);
        }
        return m;
    }

    private static double max(double[] v) {
        double m = 0;
        for (double x : v) {
            m = Math.max(m, x);
        }
        return m;
    }
}
