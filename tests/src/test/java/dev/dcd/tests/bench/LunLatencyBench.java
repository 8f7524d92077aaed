package dev.dcd.tests.bench;

import dev.dcd.backend.nbd.NbdAddress;
import dev.dcd.backend.nbd.NbdClient;
import dev.dcd.backend.nbd.NbdConfig;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.tests.lun.LunImage;
import dev.dcd.tests.lun.NbdServer;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.s3.S3Home;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The LUN backend (nbdkit's file plugin on 127.0.0.1) behind a {@link LatencyProxy}: every NBD request pays 0, 5 or
 * 20 ms (by default) before it reaches nbdkit, as over a real network. For each delay, rounds interleaved: a cold
 * sequential read of one app file through the full chain (stats, cow, readahead, redirect, a new shared cache)
 * against the naive loop of 1 MiB NBD reads on one connection of dcd's own client over the same extent, through the
 * same proxy. The LatencyChainBench of the LUN backend (issue 19). A benchmark: it reports, and checks every pass's
 * CRC32C, but asserts no speed.
 *
 * <p>Why the proxy and not nbdkit's {@code --filter=delay}: the filter's delay is fixed when nbdkit starts and the
 * catalog's backend names one address, so stepping 0, 5, 20 ms over one imported app needs a delay that can change
 * under a running server; the proxy is a delay line (requests pipelined on one connection are each delayed, overlapping,
 * as on a real link). {@code -Dbench.nbdkit-delay-ms} uses the filter instead, for one delay.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=LunLatencyBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=64}, {@code -Dbench.rounds=3}, {@code -Dbench.warmup=2}, {@code -Dbench.delays=0,5,20},
 * {@code -Dbench.uri-extra=connections=8} or {@code pipeline=1} (query of the LUN backend's URI; the naive loop always
 * uses one connection, one request at a time), {@code -Dbench.nbdkit-delay-ms=20} (delay inside nbdkit by its delay
 * filter instead of the proxy; one delay per run).
 * Output also in {@code tests/target/bench/lun-latency.txt}.
 */
class LunLatencyBench {
    private static final int MIB = BenchMath.MIB;
    private static final int REQUEST = 128 * 1024;

    @Test
    void coldSequentialReadAgainstTheNaiveNbdLoopAtAddedLatency() throws Exception {
        int mib = Integer.getInteger("bench.mib", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        // -Dbench.nbdkit-delay-ms=N: nbdkit's own delay filter delays every read by N ms inside the server (its
        // worker threads sleep, so requests pipelined on one connection wait in parallel, as on a real link), and
        // the proxy adds nothing. One delay per run: the filter's is fixed when nbdkit starts.
        int nbdkitDelay = Integer.getInteger("bench.nbdkit-delay-ms", -1);
        int[] delays = nbdkitDelay >= 0 ? new int[] {nbdkitDelay} : LatencyRounds.delays();
        List<String> filters = nbdkitDelay >= 0 ? List.of("--filter=delay", "rdelay=" + nbdkitDelay + "ms") : List.of();
        Path dir = Files.createTempDirectory("dcd-lun-latency-bench");
        List<String> report = new ArrayList<>();
        Path lunFile = dir.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength((2L * mib + 64L) * MIB);
        }
        try (NbdServer server = NbdServer.nbdkit(dir, filters, "file", lunFile.toString());
             LatencyProxy proxy = LatencyProxy.builder().target(server.port()).start();
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            String extra = System.getProperty("bench.uri-extra", "");
            URI plain = URI.create("nbd://127.0.0.1:" + proxy.port() + "/" + server.export());
            URI uri = extra.isEmpty() ? plain : URI.create(plain + "?" + extra);
            dcd.ok("backend", "add", "lunfar", uri.toString());
            List<LatencyRounds.App> apps = LatencyRounds.importTwoApps(dcd, dir, "lunfar", mib);
            LunImage image = LunImage.read(lunFile);
            long bytes = apps.get(0).file().size();
            ReadaheadConfig readahead = BenchData.readahead();
            report.add(String.format(Locale.ROOT, "two files of %d MiB on a LUN (nbdkit file) behind LatencyProxy, read "
                    + "in turn, chain requests %d KiB, naive NBD reads 1 MiB on one connection, %d rounds per delay, "
                    + "readahead %s, uri extra '%s', delay by %s", mib, REQUEST / 1024, rounds, readahead, extra,
                    nbdkitDelay >= 0 ? "nbdkit's delay filter (rdelay, every read; the proxy adds 0)" : "the proxy"));
            try (BlockCache shared = LatencyRounds.sharedCache(dir, apps)) {
                LatencyRounds.run(delays, rounds, apps, shared, nbdkitDelay >= 0 ? d -> { } : proxy::delay,
                        proxy::requests,
                        app -> naive(plain, image.extent(app.contentId()).offset()
                                + BenchData.vdiskOffsetOf(dcd, LatencyRounds.VM, app.file()), bytes, app.crc()),
                        (app, cache) -> LatencyRounds.chainCold(dcd, dir, "lunfar", app, cache, readahead, REQUEST,
                                proxy::requests, proxy::bytesToClient),
                        ms -> { }, report);
            }
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("LunLatencyBench", "lun-latency.txt", report);
    }

    /** A careless client: one connection, one 1 MiB request at a time, bytes hashed but not verified per chunk. */
    private static long naive(URI uri, long from, long length, long crc) throws Exception {
        NbdConfig one = NbdConfig.builder().connections(1).pipeline(1).build();
        try (NbdClient client = NbdClient.open(NbdAddress.parse(uri), one)) {
            return LatencyRounds.naivePass((at, buffer) -> client.read(at, buffer, client.deadline()), from, length,
                    crc);
        }
    }
}
