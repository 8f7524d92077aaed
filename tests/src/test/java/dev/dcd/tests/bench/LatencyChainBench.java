package dev.dcd.tests.bench;

import static dev.dcd.tests.bench.BenchData.vdiskOffsetOf;

import dev.dcd.filter.BlockCache;
import dev.dcd.filter.ReadaheadConfig;
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
            dcd.ok("backend", "add", S3, "s3://" + BUCKET + "/apps?endpoint=" + proxy.httpEndpoint()
                    + "&region=us-east-1&path-style=true" + extra);
            List<LatencyRounds.App> apps = LatencyRounds.importTwoApps(dcd, dir, S3, mib);
            long bytes = apps.get(0).file().size();
            int linkMibps = Integer.getInteger("bench.link-mibps", 0);
            proxy.bandwidth((long) linkMibps * MIB);
            report.add(String.format(Locale.ROOT, "two files of %d MiB read in turn, chain requests %d KiB, naive GETs 1 "
                    + "MiB, %d rounds per delay, readahead %s, uri extra '%s', per-connection link %s", mib,
                    request / 1024, rounds, READAHEAD, extra, linkMibps == 0 ? "uncapped" : linkMibps + " MiB/s"));
            try (S3Client client = client(proxy); BlockCache shared = LatencyRounds.sharedCache(dir, apps)) {
                LatencyRounds.run(delays, rounds, apps, shared, proxy::delay, proxy::requests,
                        app -> naive(client, "apps/" + app.contentId() + ".vdisk",
                                vdiskOffsetOf(dcd, LatencyRounds.VM, app.file()), bytes, app.crc()),
                        (app, cache) -> LatencyRounds.chainCold(dcd, dir, S3, app, cache, READAHEAD, request,
                                proxy::requests, proxy::bytesToClient),
                        ms -> { }, report);
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
