package dev.dcd.backend.s3;

import dev.dcd.backend.Backends;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

class S3ConfigTest {
    private static S3Config parse(String uri) {
        return S3Config.parse(URI.create(uri));
    }

    private static String rejection(String uri) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.validate(URI.create(uri)));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void theProviderIsFoundBySchemeS3() {
        assertTrue(Backends.providers().containsKey("s3"));
    }

    @Test
    void aFullUriYieldsBucketPrefixEndpointRegionAndPathStyle() {
        S3Config c = parse("s3://my-bucket/dcd/vdisks/?endpoint=http://127.0.0.1:9000&region=eu-west-1&path-style=true");
        assertEquals("my-bucket", c.bucket());
        assertEquals("dcd/vdisks", c.prefix());
        assertEquals("dcd/vdisks/abc.vdisk", c.key("abc.vdisk"));
        assertEquals("dcd/vdisks/", c.listPrefix());
        assertEquals(URI.create("http://127.0.0.1:9000"), c.endpoint().orElseThrow());
        assertEquals("eu-west-1", c.region().orElseThrow());
        assertTrue(c.pathStyle());
    }

    @Test
    void aBareBucketUsesTheRootAndVirtualHostedStyle() {
        S3Config c = parse("s3://bucket");
        assertEquals("", c.prefix());
        assertEquals("x.vdisk", c.key("x.vdisk"));
        assertEquals("", c.listPrefix());
        assertTrue(c.endpoint().isEmpty());
        assertFalse(c.pathStyle());
    }

    @Test
    void aCustomEndpointDefaultsToPathStyle() {
        assertTrue(parse("s3://bucket/p?endpoint=http://localhost:1").pathStyle());
        assertFalse(parse("s3://bucket/p?endpoint=http://localhost:1&path-style=false").pathStyle());
    }

    @Test
    void readsAreFetchedInEightMibPiecesByDefault() {
        S3Config c = parse("s3://bucket/p");
        assertEquals(8 << 20, c.pieceBytes());
        assertEquals(8 << 20, c.minPieceBytes());
        assertEquals(256 << 10, c.fetchBytes());
        S3Config small = parse("s3://bucket/p?min-piece-kib=1024");
        assertEquals(1 << 20, small.minPieceBytes());
        assertEquals(8 << 20, small.pieceBytes());
        assertTrue(rejection("s3://bucket/p?min-piece-kib=4096&piece-kib=1024").contains("min-piece-kib <= piece-kib"));
    }

    @Test
    void tuningParametersAreParsedAndBounded() {
        S3Config c = parse("s3://bucket/p?retries=2&deadline-ms=1500&backoff-ms=10&part-mib=5&upload-parallelism=2"
                + "&piece-kib=1024&fetch-kib=128&read-parallelism=4&buffer-mib=0&max-connections=8&profile=ci-user");
        assertEquals(2, c.retries());
        assertEquals(Duration.ofMillis(1500), c.deadline());
        assertEquals(Duration.ofMillis(10), c.baseDelay());
        assertEquals(5 << 20, c.partBytes());
        assertEquals(2, c.uploadParallelism());
        assertEquals(1 << 20, c.pieceBytes());
        assertEquals(1 << 20, c.minPieceBytes(), "without min-piece-kib, the smallest piece follows piece-kib down");
        assertEquals(128 << 10, c.fetchBytes());
        assertEquals(4, c.readParallelism());
        assertEquals(0, c.bufferBytes());
        assertEquals(8, c.maxConnections());
        assertEquals("ci-user", c.profile().orElseThrow());
        assertTrue(rejection("s3://bucket/p?part-mib=4").contains("part-mib"));
        assertTrue(rejection("s3://bucket/p?piece-kib=100").contains("multiples of 64"));
        assertTrue(rejection("s3://bucket/p?fetch-kib=2048&piece-kib=1024").contains("fetch-kib"));
        assertTrue(rejection("s3://bucket/p?retries=many").contains("whole number"));
        assertTrue(rejection("s3://bucket/p?max-connections=2").contains("max-connections"));
    }

    @Test
    void secretsInTheQueryAreRejectedWithoutEchoingThem() {
        for (String param : new String[] {"secret", "aws_secret_access_key", "secretKey", "access-key", "accessKeyId",
                "session-token", "password", "credentials"}) {
            String message = rejection("s3://bucket/p?" + param + "=TOPSECRETVALUE");
            assertTrue(message.contains("must not carry credentials"), message);
            assertTrue(message.contains("AWS"), message);
            assertFalse(message.contains("TOPSECRETVALUE"), message);
        }
    }

    @Test
    void credentialsBeforeTheBucketAreRejectedWithoutEchoingThem() {
        String message = rejection("s3://AKIDEXAMPLE:TOPSECRETVALUE@bucket/p");
        assertTrue(message.contains("must not carry credentials"), message);
        assertFalse(message.contains("TOPSECRETVALUE") || message.contains("AKIDEXAMPLE"), message);
        String endpoint = rejection("s3://bucket/p?endpoint=http://AKID:TOPSECRETVALUE@host:9000");
        assertFalse(endpoint.contains("TOPSECRETVALUE"), endpoint);
    }

    @Test
    void badBucketsEndpointsAndUnknownParametersAreOneLineErrors() {
        assertTrue(rejection("s3://Bad_Bucket/p").contains("bucket name"));
        assertTrue(rejection("s3://b/p").contains("bucket name"));
        assertTrue(rejection("s3://bucket/p?endpoint=ftp://host").contains("endpoint"));
        assertTrue(rejection("s3://bucket/p?endpoint=http://host/?x=1").contains("endpoint"));
        assertTrue(rejection("s3://bucket/p?colour=blue").contains("unknown parameter 'colour'"));
        assertTrue(rejection("s3://bucket/p?region=us-east-1&region=eu-west-1").contains("repeats"));
        assertTrue(rejection("s3://bucket/a//b").contains("empty segments"));
        assertTrue(rejection("s3://bucket/a/../b").contains("'..'"));
        assertTrue(rejection("s3://bucket/p?region=US%20EAST").contains("region"));
        assertTrue(rejection("s3://bucket/p?path-style=maybe").contains("true or false"));
    }

    @Test
    void toStringNamesTheLocationOnly() {
        S3Config c = parse("s3://bucket/p?endpoint=http://127.0.0.1:9000&region=us-east-1");
        assertEquals("s3://bucket/p at http://127.0.0.1:9000 in us-east-1", c.toString());
    }
}
