package dev.dcd.backend.s3;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.Progress;
import dev.dcd.backend.UnreachableException;
import dev.dcd.backend.VdiskEnds;
import dev.dcd.block.BlockDevice;
import dev.dcd.block.ChunkVerifiedDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ChunkChecksums;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.VdiskFormat;
import dev.dcd.vdisk.VdiskHeader;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * App vdisks as objects {@code PREFIX/<content-id>.vdisk} in an S3 bucket (AWS or any compatible server).
 *
 * <p>Every S3 call goes through {@link #call}, which applies the retry policy and the deadline and turns
 * failures into {@link BackendException}s that name this backend and the object. Credentials come from the
 * AWS default chain at request time and are scrubbed from every message this class produces.
 */
final class S3Backend implements Backend {
    static final String SUFFIX = ".vdisk";
    /** Longest a health check waits for one step, whatever the configured deadline. */
    private static final Duration CHECK_DEADLINE = Duration.ofSeconds(5);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(2);

    private final String name;
    private final URI uri;
    private final S3Config config;
    private final SdkHttpClient http;
    private final DefaultCredentialsProvider credentials;
    private final S3Client s3;
    private final RetryPolicy retry;
    private final RetryPolicy checkRetry;
    private final ExecutorService readPool;
    private final ExecutorService uploadPool;
    private final ChunkReader chunks;
    private final S3Uploader uploader;

    S3Backend(String name, URI uri, S3Config config) {
        this.name = name;
        this.uri = uri;
        this.config = config;
        this.http = ApacheHttpClient.builder()
                .maxConnections(config.maxConnections())
                .connectionTimeout(config.connectTimeout())
                .connectionAcquisitionTimeout(config.deadline())
                .socketTimeout(config.deadline().compareTo(Duration.ofMinutes(1)) < 0 ? config.deadline() : Duration.ofMinutes(1))
                .connectionMaxIdleTime(Duration.ofSeconds(20))
                .tcpKeepAlive(true)
                .build();
        DefaultCredentialsProvider.Builder chain = DefaultCredentialsProvider.builder();
        config.profile().ifPresent(chain::profileName);
        this.credentials = chain.build();
        var builder = S3Client.builder()
                .httpClient(http)
                .credentialsProvider(credentials)
                .region(Region.of(config.region().orElseGet(S3Backend::defaultRegion)))
                .forcePathStyle(config.pathStyle())
                // Servers other than AWS often reject or mangle the newer default checksums.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // One retry loop only: ours, which knows the deadline.
                .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry()));
        config.endpoint().ifPresent(builder::endpointOverride);
        this.s3 = builder.build();
        this.retry = new RetryPolicy(config.retries(), config.baseDelay(), max(config.baseDelay(), MAX_BACKOFF),
                System::nanoTime, RetryPolicy.REAL_SLEEPER, S3Errors::classify);
        this.checkRetry = new RetryPolicy(1, config.baseDelay(), max(config.baseDelay(), MAX_BACKOFF),
                System::nanoTime, RetryPolicy.REAL_SLEEPER, S3Errors::classify);
        this.readPool = Executors.newFixedThreadPool(config.readParallelism(), daemon("dcd-s3-read-" + name));
        this.uploadPool = Executors.newFixedThreadPool(config.uploadParallelism(), daemon("dcd-s3-upload-" + name));
        int chunk = VdiskFormat.CHECKSUM_CHUNK;
        this.chunks = new ChunkReader(name, this::getRange, this::streamRange, readPool, new FetchPlanner.Shape(config.fetchBytes() / chunk,
                config.minPieceBytes() / chunk, config.pieceBytes() / chunk, config.readParallelism()),
                config.bufferBytes() / chunk);
        this.uploader = new S3Uploader(this, uploadPool);
    }

    /** Without a region parameter: the usual variables, else us-east-1 (never the slow instance-metadata lookup). */
    private static String defaultRegion() {
        String region = System.getProperty("aws.region");
        if (region == null || region.isBlank()) {
            region = System.getenv("AWS_REGION");
        }
        if (region == null || region.isBlank()) {
            region = System.getenv("AWS_DEFAULT_REGION");
        }
        return region == null || region.isBlank() ? "us-east-1" : region.trim();
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    private static ThreadFactory daemon(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public URI uri() {
        return uri;
    }

    S3Config config() {
        return config;
    }

    S3Client client() {
        return s3;
    }

    ChunkReader chunks() {
        return chunks;
    }

    String key(ContentId id) {
        return config.key(id.hex() + SUFFIX);
    }

    // ---- the one place S3 calls are made safe --------------------------------------------------------------

    @FunctionalInterface
    interface S3Call<T> {
        T run(AwsRequestOverrideConfiguration timeouts) throws Exception;
    }

    /** Runs an S3 call with retries until {@code deadlineNanos}; failures name this backend and {@code object}. */
    <T> T call(String object, String what, long deadlineNanos, S3Call<T> call) throws IOException {
        return call(retry, object, what, deadlineNanos, call);
    }

    <T> T call(String object, String what, S3Call<T> call) throws IOException {
        return call(retry, object, what, retry.deadlineAfter(config.deadline()), call);
    }

    private <T> T call(RetryPolicy policy, String object, String what, long deadlineNanos, S3Call<T> call) throws IOException {
        try {
            return policy.run(deadlineNanos, remaining -> call.run(AwsRequestOverrideConfiguration.builder()
                    .apiCallTimeout(remaining)
                    .apiCallAttemptTimeout(remaining)
                    .build()));
        } catch (RetryPolicy.Failure f) {
            throw new S3Failure(name, object, redact(what + " failed: " + f.getMessage()), f);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(what + " of " + object + " on backend '" + name + "' was interrupted");
        }
    }

    /** A failed S3 call; {@link #notFound()} lets callers turn a 404 into their own answer. */
    static final class S3Failure extends BackendException {
        private final boolean notFound;
        private final String detail;

        S3Failure(String backend, String object, String message, RetryPolicy.Failure cause) {
            super(backend, object, message, cause);
            this.notFound = S3Errors.isNotFound(cause);
            this.detail = message;
        }

        /** The message without the backend/object prefix, for callers that add their own. */
        String detail() {
            return detail;
        }

        boolean notFound() {
            return notFound;
        }
    }

    /**
     * Scrubs the resolved access key, secret and session token from a message. S3 servers do not echo secrets,
     * but an error text is shown to users and logged, so this is checked rather than assumed.
     */
    String redact(String message) {
        if (message == null) {
            return null;
        }
        try {
            AwsCredentials c = credentials.resolveCredentials();
            String out = message;
            List<String> secrets = new ArrayList<>(List.of(c.accessKeyId(), c.secretAccessKey()));
            if (c instanceof AwsSessionCredentials session) {
                secrets.add(session.sessionToken());
            }
            for (String secret : secrets) {
                if (secret != null && secret.length() >= 4) {
                    out = out.replace(secret, "***");
                }
            }
            return out;
        } catch (RuntimeException e) {
            return message;
        }
    }

    // ---- reads ---------------------------------------------------------------------------------------------

    /** One ranged GET into {@code into}, checked to be exactly the asked range. */
    void getRange(String key, long offset, byte[] into, long deadlineNanos) throws IOException {
        long last = offset + into.length - 1;
        call(key, "GET of bytes [" + offset + ", " + (last + 1) + ")", deadlineNanos, timeouts -> {
            ResponseTransformer<GetObjectResponse, Void> intoArray = (response, in) -> {
                checkRange(response, offset, last);
                readFully(in, into);
                return null;
            };
            s3.getObject(b -> b.bucket(config.bucket()).key(key).range("bytes=" + offset + "-" + last)
                    .overrideConfiguration(timeouts), intoArray);
            return null;
        });
    }

    /** Ranged GETs of what is left of {@code range}, its body read by the range itself, retried until the deadline. */
    void streamRange(String key, ChunkReader.ResumableRange range, long deadlineNanos) throws IOException {
        call(key, "GET of bytes [" + range.next() + ", " + range.end() + ")", deadlineNanos, timeouts -> {
            long offset = range.next();
            long last = range.end() - 1;
            if (offset > last) {
                return null;
            }
            ResponseTransformer<GetObjectResponse, Void> consume = (response, in) -> {
                checkRange(response, offset, last);
                range.consume(in);
                return null;
            };
            s3.getObject(b -> b.bucket(config.bucket()).key(key).range("bytes=" + offset + "-" + last)
                    .overrideConfiguration(timeouts), consume);
            return null;
        });
    }

    /** A server that ignores Range would hand back the object's start; never mistake that for the asked bytes. */
    private static void checkRange(GetObjectResponse response, long offset, long last) throws IOException {
        String range = response.contentRange();
        if (range == null) {
            if (offset == 0 && response.contentLength() != null && response.contentLength() == last + 1) {
                return;
            }
            throw new S3Errors.Permanent("server ignored the Range header (no Content-Range in the answer)");
        }
        String expected = "bytes " + offset + "-" + last + "/";
        if (!range.trim().startsWith(expected)) {
            throw new S3Errors.Permanent("server answered range '" + S3Errors.oneLine(range) + "' for bytes "
                    + offset + "-" + last);
        }
    }

    private static void readFully(InputStream in, byte[] into) throws IOException {
        int done = 0;
        while (done < into.length) {
            int n = in.read(into, done, into.length - done);
            if (n < 0) {
                throw new EOFException("response ended after " + done + " of " + into.length + " bytes");
            }
            done += n;
        }
    }

    @Override
    public BlockDevice open(ContentId id) throws IOException {
        String key = key(id);
        long size = headSize(key).orElseThrow(() -> new BackendException(name, key, "no such vdisk in " + config));
        if (size < VdiskFormat.HEADER_SIZE) {
            throw new BackendException(name, key, "object has " + size + " bytes, too short to be an app vdisk");
        }
        long deadline = retry.deadlineAfter(config.deadline());
        byte[] header = new byte[VdiskFormat.HEADER_SIZE];
        getRange(key, 0, header, deadline);
        String what = name + ":" + key;
        VdiskHeader h;
        try {
            h = VdiskHeader.decode(ByteBuffer.wrap(header), what);
        } catch (IOException e) {
            throw new BackendException(name, key, e.getMessage());
        }
        if (!h.contentId().equals(id)) {
            throw new BackendException(name, key, "object holds vdisk " + h.contentId() + ", not " + id);
        }
        if (h.totalLength() != size || h.dataOffset() != VdiskFormat.HEADER_SIZE || h.dataLength() < 0
                || h.dataOffset() + h.dataLength() != h.manifestOffset() || h.manifestLength() > Integer.MAX_VALUE - 8) {
            throw new BackendException(name, key, "object is truncated or has an inconsistent layout (header says "
                    + h.totalLength() + " bytes, object has " + size + ")");
        }
        byte[] manifest = new byte[(int) h.manifestLength()];
        getRange(key, h.manifestOffset(), manifest, deadline);
        AppVdisk parsed;
        try {
            parsed = AppVdisk.open(new S3Device(name, key, size, header, h.manifestOffset(), manifest, null, chunks, retry,
                    config.deadline()));
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            throw new BackendException(name, key, e.getMessage());
        }
        ChunkChecksums sums = parsed.manifest().checksums();
        if (sums.base() != h.dataOffset() || sums.length() != h.dataLength()) {
            throw new BackendException(name, key, "manifest and header disagree about the data region");
        }
        return new S3Device(name, key, size, header, h.manifestOffset(), manifest, sums, chunks, retry, config.deadline());
    }

    private Optional<Long> headSize(String key) throws IOException {
        try {
            HeadObjectResponse head = call(key, "HEAD", t -> s3.headObject(b -> b.bucket(config.bucket()).key(key)
                    .overrideConfiguration(t)));
            return Optional.of(head.contentLength());
        } catch (S3Failure e) {
            if (e.notFound()) {
                return Optional.empty();
            }
            throw e;
        }
    }

    // ---- writes and the rest -------------------------------------------------------------------------------

    @Override
    public void put(ContentId id, InputStream data, long length, Progress progress) throws IOException {
        if (length < 0) {
            throw new IllegalArgumentException("negative length");
        }
        String key = key(id);
        Optional<Long> existing = headSize(key);
        if (existing.isPresent() && existing.get() == length) {
            progress.advance(length);
            return;
        }
        uploader.upload(key, data, length, progress);
    }

    @Override
    public Optional<ObjectStat> stat(ContentId id) throws IOException {
        return headSize(key(id)).map(size -> new ObjectStat(id, size));
    }

    @Override
    public List<ObjectStat> list() throws IOException {
        String prefix = config.listPrefix();
        List<ObjectStat> result = new ArrayList<>();
        String token = null;
        do {
            String continuation = token;
            ListObjectsV2Response page = call(prefix.isEmpty() ? "(bucket root)" : prefix, "list", t ->
                    s3.listObjectsV2(ListObjectsV2Request.builder().bucket(config.bucket()).prefix(prefix).delimiter("/")
                            .continuationToken(continuation).overrideConfiguration(t).build()));
            for (S3Object object : page.contents()) {
                String rest = object.key().substring(prefix.length());
                if (rest.endsWith(SUFFIX)) {
                    ContentId.tryParse(rest.substring(0, rest.length() - SUFFIX.length()))
                            .ifPresent(id -> result.add(new ObjectStat(id, object.size())));
                }
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null);
        result.sort(Comparator.comparing(ObjectStat::id));
        return result;
    }

    @Override
    public void delete(ContentId id) throws IOException {
        String key = key(id);
        call(key, "DELETE", t -> s3.deleteObject(b -> b.bucket(config.bucket()).key(key).overrideConfiguration(t)));
        chunks.forget(key);
    }

    /**
     * One listing of at most one key under the prefix, no retry, within the connect timeout: the request dcd
     * makes most, so a bucket, prefix or credentials that do not allow it fail here too.
     */
    @Override
    public void reach() throws IOException {
        RetryPolicy once = new RetryPolicy(0, config.baseDelay(), max(config.baseDelay(), MAX_BACKOFF),
                System::nanoTime, RetryPolicy.REAL_SLEEPER, S3Errors::classify);
        String prefix = config.listPrefix();
        try {
            once.run(once.deadlineAfter(config.connectTimeout()), remaining -> s3.listObjectsV2(b -> b
                    .bucket(config.bucket()).prefix(prefix).maxKeys(1).overrideConfiguration(o -> o
                            .apiCallTimeout(remaining).apiCallAttemptTimeout(remaining))));
        } catch (RetryPolicy.Failure f) {
            Throwable cause = f.getCause();
            String server = config.endpoint().map(e -> e.getHost() + (e.getPort() < 0 ? "" : ":" + e.getPort()))
                    .orElse("the S3 endpoint");
            String host = config.endpoint().map(URI::getHost).orElse(server);
            if (cause instanceof ApiCallTimeoutException || cause instanceof ApiCallAttemptTimeoutException) {
                throw UnreachableException.noAnswer(server, config.connectTimeout(), f);
            }
            throw UnreachableException.classify(server, host, config.connectTimeout(), f)
                    .orElseGet(() -> UnreachableException.failed(redact("listing s3://" + config.bucket() + "/"
                            + prefix + " failed: " + S3Errors.describe(cause)), f));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("reaching backend '" + name + "' was interrupted");
        }
    }

    /**
     * Reachability (HeadBucket, whose time is the reported latency), listing, and a write/read/delete of a tiny
     * probe object under the prefix. Each step reports; the report is ok only when all passed.
     */
    @Override
    public HealthReport check() {
        List<String> steps = new ArrayList<>();
        boolean ok = true;
        long start = System.nanoTime();
        try {
            call(checkRetry, "(bucket)", "HeadBucket", checkRetry.deadlineAfter(CHECK_DEADLINE),
                    t -> s3.headBucket(b -> b.bucket(config.bucket()).overrideConfiguration(t)));
        } catch (IOException e) {
            return new HealthReport(false, System.nanoTime() - start, config + ": bucket unreachable: " + e.getMessage());
        }
        long latency = System.nanoTime() - start;
        steps.add("bucket reachable (HeadBucket " + latency / 1_000_000 + " ms)");
        String prefix = config.listPrefix();
        try {
            ListObjectsV2Response page = call(checkRetry, prefix, "list", checkRetry.deadlineAfter(CHECK_DEADLINE),
                    t -> s3.listObjectsV2(b -> b.bucket(config.bucket()).prefix(prefix).maxKeys(1).overrideConfiguration(t)));
            steps.add("list ok" + (page.keyCount() != null && page.keyCount() == 0 ? " (prefix empty)" : ""));
        } catch (IOException e) {
            ok = false;
            steps.add("list FAILED: " + e.getMessage());
        }
        String probe = config.key(".dcd-check-" + ProcessHandle.current().pid() + "-" + Long.toHexString(System.nanoTime()));
        byte[] payload = ("dcd backend check " + probe).getBytes(StandardCharsets.UTF_8);
        boolean written = false;
        try {
            call(checkRetry, probe, "PUT", checkRetry.deadlineAfter(CHECK_DEADLINE), t -> s3.putObject(
                    b -> b.bucket(config.bucket()).key(probe).overrideConfiguration(t), RequestBody.fromBytes(payload)));
            written = true;
            byte[] back = call(checkRetry, probe, "GET", checkRetry.deadlineAfter(CHECK_DEADLINE), t -> s3.getObjectAsBytes(
                    b -> b.bucket(config.bucket()).key(probe).overrideConfiguration(t)).asByteArray());
            if (!Arrays.equals(back, payload)) {
                throw new BackendException(name, probe, "probe object read back different bytes");
            }
            steps.add("probe put/get ok");
        } catch (IOException e) {
            ok = false;
            steps.add("probe FAILED: " + e.getMessage());
        } finally {
            if (written) {
                try {
                    call(checkRetry, probe, "DELETE", checkRetry.deadlineAfter(CHECK_DEADLINE),
                            t -> s3.deleteObject(b -> b.bucket(config.bucket()).key(probe).overrideConfiguration(t)));
                    steps.add("probe delete ok");
                } catch (IOException e) {
                    ok = false;
                    steps.add("probe delete FAILED: " + e.getMessage());
                }
            }
        }
        return new HealthReport(ok, latency, config + ": " + String.join("; ", steps));
    }

    @Override
    public void close() {
        chunks.close();
        readPool.shutdownNow();
        uploadPool.shutdownNow();
        try {
            readPool.awaitTermination(5, TimeUnit.SECONDS);
            uploadPool.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        s3.close();
        http.close();
        credentials.close();
    }

    @Override
    public String toString() {
        return "s3 backend '" + name + "' (" + config + ")";
    }

    /**
     * An opened vdisk: header and manifest held in memory (both verified at open), the data region served by
     * the shared {@link ChunkReader} in verified chunks. A device built without checksums serves only the two
     * ends, which is all {@link AppVdisk#open} needs while the checksums are being learned.
     */
    static final class S3Device implements ChunkVerifiedDevice {
        private final String backend;
        private final String key;
        private final long size;
        private final VdiskEnds ends;
        private final ChunkChecksums sums;
        private final ChunkReader reader;
        private final ChunkReader.Target target;
        private final RetryPolicy clock;
        private final Duration deadline;
        private volatile boolean closed;

        S3Device(String backend, String key, long size, byte[] head, long tailStart, byte[] tail, ChunkChecksums sums,
                 ChunkReader reader, RetryPolicy clock, Duration deadline) {
            this.backend = backend;
            this.key = key;
            this.size = size;
            this.ends = VdiskEnds.of(head, tailStart, tail, sums);
            this.sums = sums;
            this.reader = reader;
            this.target = new ChunkReader.Target(key, sums);
            this.clock = clock;
            this.deadline = deadline;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public Capabilities capabilities() {
            return Capabilities.READ_ONLY;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            BlockDevice.checkRange(this, offset, dst.remaining());
            if (closed) {
                throw new BackendException(backend, key, "device is closed");
            }
            long deadlineNanos = clock.deadlineAfter(deadline);
            ends.read(offset, dst, (pos, part) -> reader.read(target, pos, part, deadlineNanos));
        }

        @Override
        public void streamChunks(int first, int count, ChunkSink sink) throws IOException {
            if (closed) {
                throw new BackendException(backend, key, "device is closed");
            }
            if (sums == null) {
                throw new IllegalStateException("data region read before the checksums are known");
            }
            reader.stream(target, first, count, sink, clock.deadlineAfter(deadline));
        }

        @Override
        public String describe() {
            return backend + ":" + key;
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
