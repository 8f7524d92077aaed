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
 * per server and mode first, default 5); the guest's reads: -Dbench.guestRounds (boots per server, default 5),
 * -Dbench.guestMib (default 128), -Dbench.guestPasses (page-cache passes per boot, default 3); variants for the
 * guest's first pass: -Dbench.nbdkitLikeDcd=true (nbdkit negotiates dcd's block sizes), -Dbench.dcdSession=shared
 * (dcd's server a child of the bench JVM instead of {@code serve --background}).
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
        Path kitSocket = tmp.resolve("kit.sock");
        // -Dbench.dcdSession=shared: dcd's server as a child of this JVM (its session), not `serve --background`.
        boolean dcdShared = "shared".equals(System.getProperty("bench.dcdSession"));
        Process dcdChild = null;
        String dcdUri;
        long dcdPid;
        if (dcdShared) {
            dcdChild = new ProcessBuilder("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "serve", "bench",
                    "--nbd", "unix:" + dcdSocket, "--read-only")
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            dcdUri = "nbd+unix:///bench?socket=" + dcdSocket;
            dcdPid = dcdChild.pid();
            awaitServing(dcdUri, dcdChild);
        } else {
            var served = JSON.readTree(dcdOk(home, "--json", "serve", "bench", "--nbd", "unix:" + dcdSocket, "--background",
                    "--read-only").out());
            dcdUri = served.get("uri").asText();
            dcdPid = served.get("pid").asLong();
        }
        // In a session of its own, as `dcd serve --background` runs dcd's server (setsid): with the kernel's
        // autogroup scheduling a session is a CPU share, and a server sharing the test JVM's and qemu's would be
        // scheduled unlike the other. setsid execs nbdkit in place (the JVM's child leads no process group).
        List<String> kitCommand = new ArrayList<>(List.of("setsid", "nbdkit", "--foreground", "--readonly",
                "--exportname=bench", "-U", kitSocket.toString()));
        // -Dbench.nbdkitLikeDcd=true: nbdkit negotiates what dcd does (block sizes 1/4096/32 MiB, no NBD_CMD_CACHE),
        // so a difference the handshake makes shows on nbdkit too. (SEND_FUA cannot be had on a read-only nbdkit.)
        boolean kitLikeDcd = Boolean.getBoolean("bench.nbdkitLikeDcd");
        if (kitLikeDcd) {
            kitCommand.addAll(List.of("--filter=blocksize-policy", "--filter=nocache"));
        }
        kitCommand.addAll(List.of("file", raw.toString()));
        if (kitLikeDcd) {
            kitCommand.addAll(List.of("blocksize-minimum=1", "blocksize-preferred=4096", "blocksize-maximum=33554432",
                    "cachemode=none"));
        }
        Process nbdkit = new ProcessBuilder(kitCommand)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            String kitUri = "nbd+unix:///bench?socket=" + kitSocket;
            awaitServing(kitUri, nbdkit);
            if (!Files.readString(Path.of("/proc/" + nbdkit.pid() + "/comm")).strip().equals("nbdkit")) {
                throw new AssertionError("setsid did not exec nbdkit in place; its CPU time cannot be read");
            }
            List<String> lines = new ArrayList<>();
            lines.add(String.format("disk %d MiB, app data %d MiB, %d warm-up copies, %d rounds, load at start: %s",
                    diskBytes >> 20, DATA_MIB, WARMUP, ROUNDS, Files.readString(Path.of("/proc/loadavg")).strip()));
            lines.add("dcd server: " + (dcdShared ? "child of the bench JVM (its session)" : "dcd serve --background (own session)")
                    + "; nbdkit: own session" + (kitLikeDcd ? ", negotiating dcd's block sizes and no cache" : ""));
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
            guestReads(tmp, dcdUri, kitUri, dcdPid, nbdkit.pid(), lines);
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
            if (dcdChild != null) {
                dcdChild.destroy();
                if (!dcdChild.waitFor(10, TimeUnit.SECONDS)) {
                    dcdChild.destroyForcibly();
                }
            } else {
                dcd(home, "serve", "--stop", "bench");
            }
        }
    }

    /**
     * A guest's sequential reads of app files with busybox dd, timed on the guest's own clock (/proc/uptime,
     * 10 ms resolution), over each server, boots alternating. The files read are the first blobs that make up
     * {@code bench.guestMib} (default 128 MiB: long enough for the 10 ms clock and TCG's jitter). Each boot reads
     * them {@code bench.guestPasses} times through the guest's page cache (dropped before each pass; the first
     * pass also pays for fresh guest RAM), then once with O_DIRECT (one request at a time, no page cache: what
     * is left is the server's and qemu's per-request latency). Under TCG the guest's CPU emulation is part of
     * every figure for both servers alike, and it competes with the server for the same cores.
     */
    private static void guestReads(Path tmp, String dcdUri, String kitUri, long dcdPid, long kitPid, List<String> lines)
            throws Exception {
        int rounds = Integer.getInteger("bench.guestRounds", 5);
        int passes = Math.max(2, Integer.getInteger("bench.guestPasses", 3));
        int fileMib = Math.max(1, DATA_MIB / 8);
        int files = Math.min(8, Math.max(1, (Integer.getInteger("bench.guestMib", 128) + fileMib - 1) / fileMib));
        StringBuilder paths = new StringBuilder();
        for (int f = 0; f < files; f++) {
            paths.append(" /mnt/data/d").append(f).append("/blob.bin");
        }
        dev.dcd.tests.guest.GuestKernel kernel = dev.dcd.tests.guest.GuestKernel.get();
        String script = """
                $B mount -o ro -t ext4 /dev/vda1 /mnt || echo DCD-FAIL mount
                t() { $B cut -d' ' -f1 /proc/uptime; }
                for p in $($B seq %d); do
                  $B sync; echo 3 > /proc/sys/vm/drop_caches
                  t0=$(t)
                  for f in %s; do $B dd if=$f of=/dev/null bs=1M 2>/dev/null || echo DCD-FAIL dd $f; done
                  echo "DCD-DD $t0 $(t)"
                done
                t0=$(t)
                for f in %s; do $B dd if=$f of=/dev/null bs=1M iflag=direct 2>/dev/null || echo DCD-FAIL direct $f; done
                echo "DCD-DIRECT $t0 $(t)"
                """.formatted(passes, paths, paths);
        // Per server: [0] first pass after boot, [1] later passes (median per boot), [2] O_DIRECT.
        double[][] dcd = new double[3][rounds];
        double[][] kit = new double[3][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                boolean dcdFirst = r % 2 == 0;
                boolean isDcd = (k == 0) == dcdFirst;
                long serverPid = isDcd ? dcdPid : kitPid;
                long[] cpu0 = cpuTicks(serverPid);
                long thp0 = vmstat("thp_fault_alloc");
                dev.dcd.tests.guest.Guest.Boot boot = dev.dcd.tests.guest.Guest.boot(kernel,
                        tmp.resolve("guest-" + r + "-" + k), isDcd ? dcdUri : kitUri, true,
                        dev.dcd.tests.guest.Guest.EXT4, script);
                if (!boot.values("DCD-FAIL").isEmpty()) {
                    throw new AssertionError("the guest's read failed: " + boot.values("DCD-FAIL") + "\n" + boot.serial());
                }
                List<String> dd = boot.values("DCD-DD");
                double[] later = new double[dd.size() - 1];
                for (int i = 1; i < dd.size(); i++) {
                    later[i - 1] = seconds(dd.get(i));
                }
                double[][] into = isDcd ? dcd : kit;
                into[0][r] = seconds(dd.get(0));
                into[1][r] = median(later);
                into[2][r] = seconds(boot.values("DCD-DIRECT").get(0));
                long[] cpu1 = cpuTicks(serverPid);
                // One line per boot: a slow first pass shows whether the server worked more (its CPU) or the host
                // did (huge-page faults of the guest's fresh RAM are taken by qemu's vCPU thread, server-independent).
                lines.add(String.format("  boot %d %-6s 1st %.2f s, later %.2f s, O_DIRECT %.2f s; server CPU %.2f s user "
                                + "+ %.2f s system; host THP faults %d; load %s", r, isDcd ? "dcd" : "nbdkit", into[0][r],
                        into[1][r], into[2][r], (cpu1[0] - cpu0[0]) / TICKS, (cpu1[1] - cpu0[1]) / TICKS,
                        vmstat("thp_fault_alloc") - thp0, Files.readString(Path.of("/proc/loadavg")).split(" ")[0]));
            }
        }
        String[] names = {"guest dd 1st", "guest dd", "guest O_DIRECT"};
        for (int m = 0; m < 3; m++) {
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ratio[r] = kit[m][r] / dcd[m][r];
            }
            lines.add(String.format("%-14s dcd %7.3f s (%.3f–%.3f)  nbdkit file %7.3f s (%.3f–%.3f)  "
                            + "ratio nbdkit/dcd time %.2f× (%.2f–%.2f×)  %d MiB in %d file(s)%s", names[m],
                    median(dcd[m]), min(dcd[m]), max(dcd[m]), median(kit[m]), min(kit[m]), max(kit[m]), median(ratio),
                    min(ratio), max(ratio), files * fileMib, files,
                    m == 0 ? ", first pass after boot" : m == 1 ? ", passes 2.." + passes + " (median per boot)"
                            : ", iflag=direct"));
        }
    }

    /** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux x86). */
    private static final double TICKS = 100.0;

    /** User and system CPU time of a process so far, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
    private static long[] cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
    }

    /** A counter of /proc/vmstat (machine-wide), or -1 where the kernel has none. */
    private static long vmstat(String name) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/vmstat"))) {
            if (line.startsWith(name + " ")) {
                return Long.parseLong(line.substring(name.length() + 1).strip());
            }
        }
        return -1;
    }

    /** "T0 T1" of the guest's uptime: the seconds between. */
    private static double seconds(String marks) {
        String[] t = marks.trim().split("\\s+");
        return Double.parseDouble(t[1]) - Double.parseDouble(t[0]);
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

    /** A foreground server has no readiness signal but its socket: poll with a deadline until a client gets in. */
    private static void awaitServing(String uri, Process server) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (VmCli.run("nbdinfo", "--size", uri).code() != 0) {
            if (!server.isAlive()) {
                throw new AssertionError("the server exited with " + server.exitValue());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the server did not start serving " + uri + " within 30 s");
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
