package dev.dcd.backend.s3;

import dev.dcd.backend.UriParameters;
import dev.dcd.vdisk.VdiskFormat;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Everything an {@code s3://BUCKET/PREFIX?...} URI says, checked and immutable. Holds no credentials: those
 * come from the AWS default chain, so a catalog that stores the URI never stores a secret.
 *
 * <p>Every error message names the bucket and the offending parameter but never echoes the URI or a
 * parameter's value, because a rejected URI is exactly the one that may carry a secret.
 */
final class S3Config {
    private static final UriParameters PARAMS = new UriParameters("s3");

    static final int MIB = 1 << 20;
    /** Smallest piece a large read is cut into unless {@code min-piece-kib} says otherwise (see the builder). */
    static final int DEFAULT_MIN_PIECE = 8 * MIB;
    static final int KIB = 1 << 10;
    /** S3 refuses parts below 5 MiB (except the last). */
    static final int MIN_PART_MIB = 5;
    /** S3 allows at most this many parts in one upload. */
    static final int MAX_PARTS = 10_000;

    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]");
    private static final Pattern PROFILE = Pattern.compile("[A-Za-z0-9_.\\-]{1,64}");
    private static final Pattern REGION = Pattern.compile("[a-z0-9\\-]{2,32}");
    /** Parameter names that would put a secret into the catalog. */
    private static final Pattern SECRET_LIKE = Pattern.compile(
            ".*(secret|password|passwd|token|credential|access.?key|accesskeyid|session|signature|key).*");

    private final String bucket;
    private final String prefix;
    private final URI endpoint;
    private final String region;
    private final boolean pathStyle;
    private final String profile;
    private final int retries;
    private final Duration deadline;
    private final Duration baseDelay;
    private final Duration connectTimeout;
    private final int maxConnections;
    private final int partBytes;
    private final int uploadParallelism;
    private final int pieceBytes;
    private final int minPieceBytes;
    private final int fetchBytes;
    private final int readParallelism;
    private final int bufferBytes;

    private S3Config(Builder b) {
        this.bucket = b.bucket;
        this.prefix = b.prefix;
        this.endpoint = b.endpoint;
        this.region = b.region;
        this.pathStyle = b.pathStyle == null ? b.endpoint != null : b.pathStyle;
        this.profile = b.profile;
        this.retries = b.retries;
        this.deadline = b.deadline;
        this.baseDelay = b.baseDelay;
        this.connectTimeout = b.connectTimeout;
        this.maxConnections = b.maxConnections;
        this.partBytes = b.partBytes;
        this.uploadParallelism = b.uploadParallelism;
        this.pieceBytes = b.pieceBytes;
        this.minPieceBytes = b.minPieceBytes;
        this.fetchBytes = b.fetchBytes;
        this.readParallelism = b.readParallelism;
        this.bufferBytes = b.bufferBytes;
    }

    static Builder builder(String bucket) {
        return new Builder(bucket);
    }

    /** Parses and checks a backend URI; a problem is a one-line {@link IllegalArgumentException}. */
    static S3Config parse(URI uri) {
        if (!"s3".equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException("not an s3 backend URI (scheme '" + uri.getScheme() + "')");
        }
        if (uri.isOpaque() || uri.getRawAuthority() == null) {
            throw new IllegalArgumentException("s3 backend URI must look like s3://BUCKET/PREFIX?endpoint=...&region=...");
        }
        if (uri.getRawUserInfo() != null || uri.getRawAuthority().contains("@")) {
            throw new IllegalArgumentException("s3 backend URI must not carry credentials before the bucket name; "
                    + credentialHint());
        }
        if (uri.getRawFragment() != null) {
            throw new IllegalArgumentException("s3 backend URI must not have a #fragment");
        }
        Builder b = new Builder(uri.getRawAuthority());
        String path = uri.getPath() == null ? "" : uri.getPath();
        b.prefix(path);
        for (Map.Entry<String, String> p : queryParameters(uri).entrySet()) {
            b.parameter(p.getKey(), p.getValue());
        }
        return b.build();
    }

    private static Map<String, String> queryParameters(URI uri) {
        Map<String, String> params = new TreeMap<>();
        String query = uri.getRawQuery();
        if (query == null || query.isEmpty()) {
            return params;
        }
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = decode(eq < 0 ? pair : pair.substring(0, eq)).toLowerCase(Locale.ROOT);
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            if (SECRET_LIKE.matcher(key).matches()) {
                throw new IllegalArgumentException("s3 backend URI must not carry credentials (parameter '" + key
                        + "'); " + credentialHint());
            }
            if (params.put(key, value) != null) {
                throw new IllegalArgumentException("s3 backend URI repeats parameter '" + key + "'");
            }
        }
        return params;
    }

    private static String decode(String raw) {
        try {
            return URLDecoder.decode(raw, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("s3 backend URI has a malformed %-escape in its query");
        }
    }

    static String credentialHint() {
        return "credentials come from the AWS chain only (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                + "~/.aws/credentials, or profile=NAME)";
    }

    String bucket() {
        return bucket;
    }

    /** Key prefix without leading or trailing slash; empty for the bucket root. */
    String prefix() {
        return prefix;
    }

    /** The key of an object named {@code name} under the prefix. */
    String key(String name) {
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /** What a ListObjectsV2 under the prefix starts with. */
    String listPrefix() {
        return prefix.isEmpty() ? "" : prefix + "/";
    }

    Optional<URI> endpoint() {
        return Optional.ofNullable(endpoint);
    }

    Optional<String> region() {
        return Optional.ofNullable(region);
    }

    boolean pathStyle() {
        return pathStyle;
    }

    Optional<String> profile() {
        return Optional.ofNullable(profile);
    }

    int retries() {
        return retries;
    }

    Duration deadline() {
        return deadline;
    }

    Duration baseDelay() {
        return baseDelay;
    }

    Duration connectTimeout() {
        return connectTimeout;
    }

    int maxConnections() {
        return maxConnections;
    }

    int partBytes() {
        return partBytes;
    }

    int uploadParallelism() {
        return uploadParallelism;
    }

    int pieceBytes() {
        return pieceBytes;
    }

    int minPieceBytes() {
        return minPieceBytes;
    }

    int fetchBytes() {
        return fetchBytes;
    }

    int readParallelism() {
        return readParallelism;
    }

    int bufferBytes() {
        return bufferBytes;
    }

    @Override
    public String toString() {
        return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix)
                + (endpoint == null ? "" : " at " + endpoint) + (region == null ? "" : " in " + region)
                + (profile == null ? "" : " profile " + profile);
    }

    static final class Builder {
        private final String bucket;
        private String prefix = "";
        private URI endpoint;
        private String region;
        private Boolean pathStyle;
        private String profile;
        private int retries = 6;
        private Duration deadline = Duration.ofSeconds(30);
        private Duration baseDelay = Duration.ofMillis(50);
        private Duration connectTimeout = Duration.ofSeconds(5);
        private int maxConnections = 32;
        private int partBytes = 16 * MIB;
        private int uploadParallelism = 4;
        /**
         * 8 MiB GETs: a 16 MiB readahead window is two of them. Each GET costs the client and the server CPU of its
         * own (signing, headers, a response object; S3Proxy's per-request work), and on loopback with two cores that
         * is what bounds a cold read: against eight 2 MiB GETs per window, the S3 benchmark read 400-500 MiB/s
         * instead of 330-400 with less S3Proxy CPU. On AWS, 8-16 MiB is the ranged-GET size its guidelines suggest.
         */
        private int pieceBytes = 8 * MIB;
        /** 0 until set: then the smaller of 8 MiB and {@code piece-kib}, so setting only the largest piece works. */
        private int minPieceBytes;
        private int fetchBytes = 256 * KIB;
        private int readParallelism = 8;
        private int bufferBytes = 16 * MIB;

        private Builder(String bucket) {
            if (bucket == null || !BUCKET.matcher(bucket).matches() || bucket.contains("..")) {
                throw new IllegalArgumentException("s3 bucket name '" + UriParameters.printable(bucket)
                        + "' is not valid (3-63 characters: lower-case letters, digits, '.', '-')");
            }
            this.bucket = bucket;
        }

        Builder prefix(String value) {
            String p = value;
            while (p.startsWith("/")) {
                p = p.substring(1);
            }
            while (p.endsWith("/")) {
                p = p.substring(0, p.length() - 1);
            }
            if (p.contains("//") || p.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new IllegalArgumentException("s3 key prefix must not contain empty segments or control characters");
            }
            for (String segment : p.split("/")) {
                if (segment.equals(".") || segment.equals("..")) {
                    throw new IllegalArgumentException("s3 key prefix must not contain '.' or '..' segments");
                }
            }
            this.prefix = p;
            return this;
        }

        Builder endpoint(URI value) {
            if (value.getScheme() == null || !(value.getScheme().equals("http") || value.getScheme().equals("https"))
                    || value.getHost() == null) {
                throw new IllegalArgumentException("s3 endpoint must be an http:// or https:// URL with a host");
            }
            if (value.getRawUserInfo() != null) {
                throw new IllegalArgumentException("s3 endpoint must not carry credentials; " + credentialHint());
            }
            if (value.getRawQuery() != null || value.getRawFragment() != null) {
                throw new IllegalArgumentException("s3 endpoint must not have a query or fragment");
            }
            this.endpoint = value;
            return this;
        }

        Builder region(String value) {
            if (!REGION.matcher(value).matches()) {
                throw new IllegalArgumentException("s3 region '" + UriParameters.printable(value) + "' is not valid (for example us-east-1)");
            }
            this.region = value;
            return this;
        }

        Builder pathStyle(boolean value) {
            this.pathStyle = value;
            return this;
        }

        Builder profile(String value) {
            if (!PROFILE.matcher(value).matches()) {
                throw new IllegalArgumentException("aws profile name is not valid (letters, digits, '_', '.', '-')");
            }
            this.profile = value;
            return this;
        }

        Builder retries(int value) {
            this.retries = PARAMS.intRange("retries", value, 0, 100);
            return this;
        }

        Builder deadline(Duration value) {
            this.deadline = Duration.ofMillis(PARAMS.intRange("deadline-ms", value.toMillis(), 100, 3_600_000));
            return this;
        }

        Builder baseDelay(Duration value) {
            this.baseDelay = Duration.ofMillis(PARAMS.intRange("backoff-ms", value.toMillis(), 1, 60_000));
            return this;
        }

        Builder connectTimeout(Duration value) {
            this.connectTimeout = Duration.ofMillis(PARAMS.intRange("connect-timeout-ms", value.toMillis(), 10, 600_000));
            return this;
        }

        Builder maxConnections(int value) {
            this.maxConnections = PARAMS.intRange("max-connections", value, 1, 1024);
            return this;
        }

        Builder partBytes(int value) {
            this.partBytes = PARAMS.intRange("part-mib", value / MIB, MIN_PART_MIB, 1024) * MIB;
            return this;
        }

        Builder uploadParallelism(int value) {
            this.uploadParallelism = PARAMS.intRange("upload-parallelism", value, 1, 64);
            return this;
        }

        Builder pieceBytes(int value) {
            this.pieceBytes = PARAMS.intRange("piece-kib", value / KIB, 64, 64 * 1024) * KIB;
            return this;
        }

        Builder minPieceBytes(int value) {
            this.minPieceBytes = PARAMS.intRange("min-piece-kib", value / KIB, 64, 64 * 1024) * KIB;
            return this;
        }

        Builder fetchBytes(int value) {
            this.fetchBytes = PARAMS.intRange("fetch-kib", value / KIB, 64, 64 * 1024) * KIB;
            return this;
        }

        Builder readParallelism(int value) {
            this.readParallelism = PARAMS.intRange("read-parallelism", value, 1, 256);
            return this;
        }

        Builder bufferBytes(int value) {
            this.bufferBytes = PARAMS.intRange("buffer-mib", value / MIB, 0, 1024) * MIB;
            return this;
        }

        Builder parameter(String key, String value) {
            switch (key) {
                case "endpoint" -> endpoint(parseUri(value));
                case "region" -> region(value);
                case "path-style" -> pathStyle(PARAMS.bool(key, value));
                case "profile" -> profile(value);
                case "retries" -> retries(PARAMS.wholeNumber(key, value));
                case "deadline-ms" -> deadline(Duration.ofMillis(PARAMS.wholeNumber(key, value)));
                case "backoff-ms" -> baseDelay(Duration.ofMillis(PARAMS.wholeNumber(key, value)));
                case "connect-timeout-ms" -> connectTimeout(Duration.ofMillis(PARAMS.wholeNumber(key, value)));
                case "max-connections" -> maxConnections(PARAMS.wholeNumber(key, value));
                case "part-mib" -> partBytes(PARAMS.intRange(key, PARAMS.wholeNumber(key, value), MIN_PART_MIB, 1024) * MIB);
                case "upload-parallelism" -> uploadParallelism(PARAMS.wholeNumber(key, value));
                case "piece-kib" -> pieceBytes(PARAMS.intRange(key, PARAMS.wholeNumber(key, value), 64, 64 * 1024) * KIB);
                case "min-piece-kib" -> minPieceBytes(PARAMS.intRange(key, PARAMS.wholeNumber(key, value), 64, 64 * 1024) * KIB);
                case "fetch-kib" -> fetchBytes(PARAMS.intRange(key, PARAMS.wholeNumber(key, value), 64, 64 * 1024) * KIB);
                case "read-parallelism" -> readParallelism(PARAMS.wholeNumber(key, value));
                case "buffer-mib" -> bufferBytes(PARAMS.intRange(key, PARAMS.wholeNumber(key, value), 0, 1024) * MIB);
                default -> throw new IllegalArgumentException("s3 backend URI has unknown parameter '" + UriParameters.printable(key)
                        + "' (known: endpoint, region, path-style, profile, retries, deadline-ms, backoff-ms, "
                        + "connect-timeout-ms, max-connections, part-mib, upload-parallelism, piece-kib, min-piece-kib, fetch-kib, "
                        + "read-parallelism, buffer-mib)");
            }
            return this;
        }

        S3Config build() {
            int chunk = VdiskFormat.CHECKSUM_CHUNK;
            if (minPieceBytes == 0) {
                minPieceBytes = Math.max(fetchBytes, Math.min(DEFAULT_MIN_PIECE, pieceBytes));
            }
            if (pieceBytes % chunk != 0 || minPieceBytes % chunk != 0 || fetchBytes % chunk != 0) {
                throw new IllegalArgumentException("s3 piece-kib, min-piece-kib and fetch-kib must be multiples of 64");
            }
            if (fetchBytes > minPieceBytes || minPieceBytes > pieceBytes) {
                throw new IllegalArgumentException("s3 sizes must satisfy fetch-kib <= min-piece-kib <= piece-kib");
            }
            if (maxConnections < readParallelism + uploadParallelism) {
                throw new IllegalArgumentException("s3 max-connections (" + maxConnections
                        + ") must be at least read-parallelism + upload-parallelism (" + (readParallelism + uploadParallelism) + ")");
            }
            return new S3Config(this);
        }

        private static URI parseUri(String value) {
            try {
                return new URI(value);
            } catch (java.net.URISyntaxException e) {
                throw new IllegalArgumentException("s3 endpoint is not a valid URL");
            }
        }
    }
}
