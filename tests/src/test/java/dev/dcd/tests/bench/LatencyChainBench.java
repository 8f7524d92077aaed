package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchData.vdiskOffsetOf;
import static dev.dcd.tests.bench.BenchData.writeRandom;
import static dev.dcd.tests.bench.BenchMath.mibPerSecond;

import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.synth.FileIndex;
import dev.dcd.tests.net.LatencyProxy;
import dev.dcd.tests.s3.S3Home;
import dev.dcd.tests.s3.S3ProxyServer;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * S3 behind a {@link LatencyProxy}: every request pays 0, 5 or 20 ms (by default) before its first byte, as over a
 * real network. For each delay, in the same run and rounds interleaved: a cold sequential read of one app file
 * through the full chain (stats, cow, readahead for S3, redirect, a new shared cache: what a guest's first read of
 * the file costs) against the naive single-stream loop of 1 MiB ranged GETs over the same bytes (AWS SDK, Apache
 * client, through the same proxy). Reports MiB/s, the ratio, and the requests each side sent through the proxy.
 * Target at 20 ms: chain >= 5x naive. A benchmark, it reports and does not assert a speed; every pass is checked
 * against the source's CRC32C.
 *
 * <pre>
 * mvn -B -o -pl tests -am verify -Dit.test=LatencyChainBench -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false
 * </pre>
 * Knobs: {@code -Dbench.mib=64}, {@code -Dbench.rounds=3}, {@code -Dbench.delays=0,5,20},
 * {@code -Dbench.request-kib=128}, {@code -Dbench.uri-extra=&min-piece-kib=1024} (extra S3 URI parameters),
 * {@code -Dbench.ra-min-kib}, {@code -Dbench.ra-max-kib}, {@code -Dbench.ra-threads}, {@code -Dbench.link-mibps=N}
 * (cap each proxied connection at N MiB/s each way, as a real link or a per-stream server limit would: then the
 * figure shows what overlapping requests buys rather than how much CPU two shared cores have left). Output also in
 * {@code tests/target/bench/latency-chain.txt}.
 */
class LatencyChainBench {
    private static final int MIB = BenchMath.MIB;
    private static final String BUCKET = "dcd-latency-bench";
    private static final String S3 = "s3far";
    private static final ReadaheadConfig READAHEAD = BenchData.readahead();

    @Test
    void coldSequentialReadAgainstTheNaiveGetLoopAtAddedLatency() throws Exception {
        int mib = Integer.getInteger("bench.mib", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int request = Integer.getInteger("bench.request-kib", 128) * 1024;
        int[] delays = LatencyRounds.delays();
        String extra = System.getProperty("bench.uri-extra", "");
        Path dir = Files.createTempDirectory("dcd-latency-bench");
        List<String> report = new ArrayList<>();
        try (S3ProxyServer server = S3ProxyServer.start(Files.createDirectories(dir.resolve("server")));
             LatencyProxy proxy = LatencyProxy.builder().target(server.port()).start();
             S3Home dcd = new S3Home(dir.resolve("home"))) {
            server.exportCredentialsAsSystemProperties();
            server.createBucket(BUCKET);
            Path app = Files.createDirectories(dir.resolve("src/big-1"));
            long crc = writeRandom(app.resolve("big.bin"), (long) mib * MIB, 7);
            dcd.ok("backend", "add", S3, "s3://" + BUCKET + "/apps?endpoint=" + proxy.httpEndpoint()
                    + "&region=us-east-1&path-style=true" + extra);
            dcd.ok("catalog", "import", app.toString(), "--name", "big", "--version", "1", "--backend", S3);
            dcd.ok("vm", "create", "remote", "--size", (mib + 64) + "M");
            dcd.ok("vm", "assign", "remote", "big@1");
            dcd.ok("disk", "build", "remote");
            FileIndex.Node file = dcd.index("remote").get("big.bin");
            String key = "apps/" + dcd.app("big@1").contentId() + ".vdisk";
            long dataOffset = vdiskOffsetOf(dcd, "remote", file);
            long bytes = file.size();
            int linkMibps = Integer.getInteger("bench.link-mibps", 0);
            proxy.bandwidth((long) linkMibps * MIB);
            report.add(String.format(Locale.ROOT, "file %d MiB, chain requests %d KiB, naive GETs 1 MiB, %d rounds per "
                    + "delay, readahead %s, uri extra '%s', per-connection link %s", mib, request / 1024, rounds,
                    READAHEAD, extra, linkMibps == 0 ? "uncapped" : linkMibps + " MiB/s"));
            try (S3Client client = client(proxy)) {
                // Warm-up (JIT, connections), not recorded.
                proxy.delay(Duration.ZERO);
                for (int w = 0; w < Integer.getInteger("bench.warmup", 3); w++) {
                    naive(client, key, dataOffset, bytes, crc);
                    LatencyRounds.chainCold(dcd, dir, S3, file, READAHEAD, request, crc);
                }
                for (int delay : delays) {
                    proxy.delay(Duration.ofMillis(delay));
                    long[] naive = new long[rounds];
                    long[] chain = new long[rounds];
                    double[] ratio = new double[rounds];
                    for (int r = 0; r < rounds; r++) {
                        long requestsBefore = proxy.requests();
                        naive[r] = naive(client, key, dataOffset, bytes, crc);
                        long naiveRequests = proxy.requests() - requestsBefore;
                        LatencyRounds.Cold cold = LatencyRounds.chainCold(dcd, dir, S3, file, READAHEAD, request, crc,
                                proxy::requests, proxy::bytesToClient);
                        chain[r] = cold.nanos();
                        ratio[r] = (double) naive[r] / chain[r];
                        report.add(String.format(Locale.ROOT, "delay %d ms round %d: naive %.1f MiB/s (%d requests), chain "
                                        + "cold %.1f MiB/s (%d requests, %s), %.2fx",
                                delay, r + 1, mibPerSecond(bytes, naive[r]), naiveRequests,
                                mibPerSecond(bytes, chain[r]), cold.requests(), cold.readaheadText(), ratio[r])
                                + "\n    " + cold.detail());
                    }
                    report.add(LatencyRounds.summary(delay, bytes, naive, chain, ratio));
                }
            }
        } finally {
            BenchFiles.deleteTree(dir);
        }
        BenchFiles.writeReport("LatencyChainBench", "latency-chain.txt", report);
    }

    private static long naive(S3Client client, String key, long from, long length, long crc) {
        java.util.zip.CRC32C digest = new java.util.zip.CRC32C();
        long start = System.nanoTime();
        for (long offset = 0; offset < length; offset += MIB) {
            long first = from + offset;
            long last = from + Math.min(length, offset + MIB) - 1;
            byte[] got = client.getObject(b -> b.bucket(BUCKET).key(key).range("bytes=" + first + "-" + last),
                    ResponseTransformer.<GetObjectResponse>toBytes()).asByteArrayUnsafe();
            digest.update(got);
        }
        long nanos = System.nanoTime() - start;
        assertEquals(crc, digest.getValue(), "naive pass");
        return nanos;
    }

    private static S3Client client(LatencyProxy proxy) {
        return S3Client.builder()
                .endpointOverride(proxy.httpEndpoint())
                .region(Region.US_EAST_1)
                .forcePathStyle(true)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
                        S3ProxyServer.IDENTITY, S3ProxyServer.CREDENTIAL)))
                .httpClient(ApacheHttpClient.builder().build())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
    }
}
