package dev.dcd.tests.bench;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.nfs.GaneshaServer;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static dev.dcd.tests.bench.BenchMath.median;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

/**
 * The NFS backend (nfs-ganesha on 127.0.0.1) behind two {@link LatencyProxy}s, one for its NFS port and one for its
 * MOUNT port (the backend URI names both: {@code nfs://127.0.0.1:P/export/apps?mount-port=Q}): every RPC turn pays 0,
 * 5 or 20 ms (by default) before it reaches ganesha, as over a real network. For each delay, rounds interleaved: a
 * cold sequential read of one app file through the full chain (stats, cow, readahead, redirect, a new shared cache)
 * against the naive loop of 1 MiB reads through dcd's own NFS device with one worker (no cache, no readahead), through
 * the same proxies. The LatencyChainBench of the NFS backend (issue 19). After each round, where the time goes: how
 * long a new backend takes to open the device (its workers connect in parallel then) and how fast the device alone
 * reads in readahead-window-sized requests, without chain or cache. A benchmark: it reports, and checks every pass's
 * CRC32C, but asserts no speed.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=NfsLatencyBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=64}, {@code -Dbench.rounds=3}, {@code -Dbench.warmup=2}, {@code -Dbench.delays=0,5,20},
 * {@code -Dbench.uri-extra=&read-parallelism=8} (added to the chain's backend URI). Output also in
 * {@code tests/target/bench/nfs-latency.txt}.
 */
class NfsLatencyBench {
    private static final int MIB = BenchMath.MIB;
    private static final int REQUEST = 128 * 1024;

    @Test
    void coldSequentialReadAgainstTheNaiveNfsLoopAtAddedLatency() throws Exception {
        int mib = Integer.getInteger("bench.mib", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int[] delays = LatencyRounds.delays();
        Path dir = Files.createTempDirectory("dcd-nfs-latency-bench");
        List<String> report = new ArrayList<>();
        try (GaneshaServer server = GaneshaServer.start(dir.resolve("export"));
             LatencyProxy proxy = LatencyProxy.builder().target(server.nfsPort()).start();
             LatencyProxy mountProxy = LatencyProxy.builder().target(server.mountPort()).start();
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            Files.createDirectories(server.export().resolve("apps"));
            String extra = System.getProperty("bench.uri-extra", "");
            String direct = server.uri("apps", "");
            String far = direct.replace("127.0.0.1:" + server.nfsPort() + "/", "127.0.0.1:" + proxy.port() + "/")
                    .replace("mount-port=" + server.mountPort(), "mount-port=" + mountProxy.port());
            if (far.equals(direct)) {
                throw new IllegalStateException("could not point " + direct + " at the proxies");
            }
            dcd.ok("backend", "add", "nfsfar", far + extra);
            String plain = far + "&read-parallelism=1";
            List<LatencyRounds.App> apps = LatencyRounds.importTwoApps(dcd, dir, "nfsfar", mib);
            long bytes = apps.get(0).file().size();
            ReadaheadConfig readahead = BenchData.readahead();
            report.add(String.format(Locale.ROOT, "two files of %d MiB on NFS (ganesha) behind LatencyProxy, read in "
                    + "turn, chain requests %d KiB, naive reads 1 MiB through the NFS device with one worker, %d rounds "
                    + "per delay, readahead %s, uri extra '%s'", mib, REQUEST / 1024, rounds, readahead, extra));
            String alone = far + extra;
            Map<Integer, List<long[]>> device = new LinkedHashMap<>();
            LatencyRounds.App first = apps.get(0);
            long firstOffset = BenchData.vdiskOffsetOf(dcd, LatencyRounds.VM, first.file());
            try (BlockCache shared = LatencyRounds.sharedCache(dir, apps)) {
                LatencyRounds.run(delays, rounds, apps, shared, delay -> {
                            proxy.delay(delay);
                            mountProxy.delay(delay);
                        }, () -> proxy.requests() + mountProxy.requests(),
                        app -> naive(plain, new ContentId(app.contentId()),
                                BenchData.vdiskOffsetOf(dcd, LatencyRounds.VM, app.file()), bytes, app.crc()),
                        (app, cache) -> LatencyRounds.chainCold(dcd, dir, "nfsfar", app, cache, readahead, REQUEST,
                                proxy::requests, proxy::bytesToClient),
                        ms -> device.computeIfAbsent(ms, k -> new ArrayList<>()).add(deviceAlone(alone,
                                new ContentId(first.contentId()), firstOffset, bytes, first.crc())),
                        report);
            }
            for (int delay : delays) {
                List<long[]> timed = device.get(delay);
                long[] open = timed.stream().mapToLong(t -> t[0]).toArray();
                long[] read = timed.stream().mapToLong(t -> t[1]).toArray();
                report.add(String.format(Locale.ROOT, "delay %d ms: where the time goes: opening the device (its workers "
                                + "connect in parallel, header and manifest) %.0f ms (min %.0f, max %.0f); the device alone, "
                                + "%d MiB reads on its workers (no chain, no cache) %.1f MiB/s (min %.1f, max %.1f)",
                        delay, median(open) / 1e6, lo(open) / 1e6, hi(open) / 1e6, DEVICE_REQUEST / MIB,
                        mibPerSecond(bytes, median(read)), mibPerSecond(bytes, hi(read)), mibPerSecond(bytes, lo(read))));
            }
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("NfsLatencyBench", "nfs-latency.txt", report);
    }

    /** Reads per pass of the device alone: a readahead window's worth. */
    private static final int DEVICE_REQUEST = 16 * MIB;

    /**
     * What the chain's backend can do by itself at this delay: a new backend (so its workers connect again, timed
     * as the open), then {@link #DEVICE_REQUEST}-byte reads straight from its device, CRC-checked. Nanoseconds of the
     * open and of the reads.
     */
    private static long[] deviceAlone(String uri, ContentId id, long from, long length, long crc) throws Exception {
        long start = System.nanoTime();
        try (Backend backend = Backends.open("alone", Backends.parse(uri)); BlockDevice device = backend.open(id)) {
            long open = System.nanoTime() - start;
            long read = LatencyRounds.sequentialPass(device::read, from, length, DEVICE_REQUEST, crc,
                    "device-alone pass");
            return new long[] {open, read};
        }
    }

    private static long lo(long[] values) {
        return java.util.Arrays.stream(values).min().orElse(0);
    }

    private static long hi(long[] values) {
        return java.util.Arrays.stream(values).max().orElse(0);
    }

    /** A careless client: one worker, one 1 MiB read at a time, no cache, no readahead. */
    private static long naive(String uri, ContentId id, long from, long length, long crc) throws Exception {
        try (Backend backend = Backends.open("naive", Backends.parse(uri)); BlockDevice device = backend.open(id)) {
            return LatencyRounds.naivePass(device::read, from, length, crc);
        }
    }
}
