package dev.dcd.tests.bench;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.nfs.GaneshaServer;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.vdisk.ContentId;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The NFS backend (nfs-ganesha on 127.0.0.1) behind two {@link LatencyProxy}s, one for its NFS port and one for its
 * MOUNT port (the backend URI names both: {@code nfs://127.0.0.1:P/export/apps?mount-port=Q}): every RPC turn pays 0,
 * 5 or 20 ms (by default) before it reaches ganesha, as over a real network. For each delay, rounds interleaved: a
 * cold sequential read of one app file through the full chain (stats, cow, readahead, redirect, a new shared cache)
 * against the naive loop of 1 MiB reads through dcd's own NFS device with one worker (no cache, no readahead), through
 * the same proxies. The LatencyChainBench of the NFS backend (issue 19). A benchmark: it reports, and checks every
 * pass's CRC32C, but asserts no speed.
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
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long crc = BenchData.writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            String extra = System.getProperty("bench.uri-extra", "");
            String direct = server.uri("apps", "");
            String far = direct.replace("127.0.0.1:" + server.nfsPort() + "/", "127.0.0.1:" + proxy.port() + "/")
                    .replace("mount-port=" + server.mountPort(), "mount-port=" + mountProxy.port());
            if (far.equals(direct)) {
                throw new IllegalStateException("could not point " + direct + " at the proxies");
            }
            dcd.ok("backend", "add", "nfsfar", far + extra);
            String plain = far + "&read-parallelism=1";
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", "nfsfar");
            dcd.ok("vm", "create", "remote", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1");
            dcd.ok("disk", "build", "remote");
            FileIndex.Node file = dcd.index("remote").get("big.bin");
            ContentId id = new ContentId(dcd.app("big@1").contentId());
            long dataOffset = BenchData.vdiskOffsetOf(dcd, "remote", file);
            long bytes = file.size();
            ReadaheadConfig readahead = BenchData.readahead();
            report.add(String.format(Locale.ROOT, "file %d MiB on NFS (ganesha) behind LatencyProxy, chain requests "
                    + "%d KiB, naive reads 1 MiB through the NFS device with one worker, %d rounds per delay, readahead %s, uri extra "
                    + "'%s'", mib, REQUEST / 1024, rounds, readahead, extra));
            LatencyRounds.run(delays, rounds, bytes, delay -> {
                        proxy.delay(delay);
                        mountProxy.delay(delay);
                    }, () -> proxy.requests() + mountProxy.requests(),
                    () -> naive(plain, id, dataOffset, bytes, crc),
                    () -> LatencyRounds.chainCold(dcd, dir, "nfsfar", file, readahead, REQUEST, crc), report);
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("NfsLatencyBench", "nfs-latency.txt", report);
    }

    /** A careless client: one worker, one 1 MiB read at a time, no cache, no readahead. */
    private static long naive(String uri, ContentId id, long from, long length, long crc) throws Exception {
        try (Backend backend = Backends.open("naive", Backends.parse(uri)); BlockDevice device = backend.open(id)) {
            return LatencyRounds.naivePass(device::read, from, length, crc);
        }
    }
}
