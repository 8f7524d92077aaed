package dev.dcd.backend.nfs;

import dev.dcd.backend.UriParameters;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Where and how an NFS backend stores vdisks, parsed from
 * {@code nfs://HOST[:PORT]/EXPORT/PATH[?mount-port=N&uid=N&gid=N&deadline-ms=N&read-parallelism=N]}.
 *
 * <p>The whole URI path is what is mounted (NFSv3 MOUNT of the export or of a directory inside it, which
 * servers such as ganesha and the Linux kernel server accept), and vdisks are the files {@code <content-id>.vdisk}
 * in it. With a port and {@code mount-port} the portmapper is never asked, which is what lets a server run on
 * unprivileged, non-standard ports.
 */
final class NfsConfig {
    private static final UriParameters PARAMS = new UriParameters("nfs");

    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9._-]{1,253}");
    static final String KNOWN = "mount-port, uid, gid, deadline-ms, read-parallelism";

    private final String host;
    private final int nfsPort;
    private final int mountPort;
    private final String dir;
    private final Integer uid;
    private final Integer gid;
    private final Duration deadline;
    private final int readParallelism;
    private final boolean readParallelismGiven;

    private NfsConfig(Builder b) {
        this.host = b.host;
        this.nfsPort = b.nfsPort;
        this.mountPort = b.mountPort;
        this.dir = b.dir;
        this.uid = b.uid;
        this.gid = b.gid;
        this.deadline = b.deadline;
        this.readParallelism = b.readParallelism;
        this.readParallelismGiven = b.readParallelismGiven;
    }

    static Builder builder(String host, String dir) {
        return new Builder(host, dir);
    }

    static NfsConfig parse(URI uri) {
        if (!"nfs".equals(uri.getScheme()) || uri.isOpaque()) {
            throw new IllegalArgumentException("nfs backend URI must look like nfs://HOST[:PORT]/EXPORT/PATH");
        }
        if (uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("nfs backend URI must not carry a user; use uid=N&gid=N");
        }
        if (uri.getRawFragment() != null) {
            throw new IllegalArgumentException("nfs backend URI must not have a #fragment");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("nfs backend URI needs a server: nfs://HOST[:PORT]/EXPORT/PATH");
        }
        Builder b = new Builder(uri.getHost(), uri.getPath());
        if (uri.getPort() != -1) {
            b.nfsPort(uri.getPort());
        }
        for (Map.Entry<String, String> p : query(uri).entrySet()) {
            b.parameter(p.getKey(), p.getValue());
        }
        return b.build();
    }

    private static Map<String, String> query(URI uri) {
        Map<String, String> params = new TreeMap<>();
        String raw = uri.getRawQuery();
        if (raw == null || raw.isEmpty()) {
            return params;
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = decode(eq < 0 ? pair : pair.substring(0, eq)).toLowerCase(Locale.ROOT);
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
            if (params.put(key, value) != null) {
                throw new IllegalArgumentException("nfs backend URI repeats parameter '" + UriParameters.printable(key) + "'");
            }
        }
        return params;
    }

    private static String decode(String raw) {
        try {
            return URLDecoder.decode(raw, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("nfs backend URI has a malformed %-escape in its query");
        }
    }

    String host() {
        return host;
    }

    /** 0: ask the portmapper. */
    int nfsPort() {
        return nfsPort;
    }

    /** 0: ask the portmapper. */
    int mountPort() {
        return mountPort;
    }

    /** The mounted directory, absolute, without a trailing slash unless it is the root. */
    String dir() {
        return dir;
    }

    OptionalInt uid() {
        return uid == null ? OptionalInt.empty() : OptionalInt.of(uid);
    }

    OptionalInt gid() {
        return gid == null ? OptionalInt.empty() : OptionalInt.of(gid);
    }

    Duration deadline() {
        return deadline;
    }

    /** This configuration with another deadline (and so another libnfs per-call timeout). */
    NfsConfig withDeadline(Duration value) {
        Builder b = new Builder(host, dir).deadline(value);
        if (nfsPort != 0) {
            b.nfsPort(nfsPort);
        }
        if (mountPort != 0) {
            b.mountPort(mountPort);
        }
        uid().ifPresent(b::uid);
        gid().ifPresent(b::gid);
        if (readParallelismGiven) {
            b.readParallelism(readParallelism);
        }
        return b.build();
    }

    /** Worker threads: the {@code read-parallelism} given, or the most the backend uses when it chooses. */
    int readParallelism() {
        return readParallelism;
    }

    /** Whether the URI named {@code read-parallelism}; if not, the backend chooses by the link's latency. */
    boolean readParallelismGiven() {
        return readParallelismGiven;
    }

    /**
     * libnfs's per-call timeout: whole seconds (libnfs 4 rounds to them), at least one, and no longer than the
     * deadline allows, so a call on a hung server returns in time for the retry loop to give up cleanly.
     */
    int rpcTimeoutMillis() {
        return (int) Math.max(1000, deadline.toMillis() / 1000 * 1000);
    }

    /** The URL libnfs parses to learn the ports (libnfs 4 has no setter for them). */
    String libnfsUrl() {
        StringBuilder url = new StringBuilder("nfs://").append(host).append(dir);
        String sep = "?";
        if (nfsPort != 0) {
            url.append(sep).append("nfsport=").append(nfsPort);
            sep = "&";
        }
        if (mountPort != 0) {
            url.append(sep).append("mountport=").append(mountPort);
        }
        return url.toString();
    }

    @Override
    public String toString() {
        return "nfs://" + host + (nfsPort == 0 ? "" : ":" + nfsPort) + dir
                + (mountPort == 0 ? "" : " (mount port " + mountPort + ")");
    }

    static final class Builder {
        private final String host;
        private final String dir;
        private int nfsPort;
        private int mountPort;
        private Integer uid;
        private Integer gid;
        private Duration deadline = Duration.ofSeconds(30);
        private int readParallelism = 8;
        private boolean readParallelismGiven;

        private Builder(String host, String path) {
            if (host == null || !HOST.matcher(host).matches()) {
                throw new IllegalArgumentException("nfs server name '" + UriParameters.printable(host) + "' is not valid");
            }
            this.host = host;
            this.dir = directory(path);
        }

        private static String directory(String path) {
            if (path == null || path.isEmpty() || !path.startsWith("/")) {
                throw new IllegalArgumentException("nfs backend URI needs the export path: nfs://HOST[:PORT]/EXPORT/PATH");
            }
            String p = path;
            while (p.length() > 1 && p.endsWith("/")) {
                p = p.substring(0, p.length() - 1);
            }
            if (p.contains("//") || p.chars().anyMatch(c -> c < 0x20 || c == 0x7f || c == '?' || c == '&')) {
                throw new IllegalArgumentException("nfs export path must not contain empty segments, '?', '&' or control characters");
            }
            for (String segment : p.split("/")) {
                if (segment.equals(".") || segment.equals("..")) {
                    throw new IllegalArgumentException("nfs export path must not contain '.' or '..' segments");
                }
            }
            return p;
        }

        Builder nfsPort(int value) {
            this.nfsPort = PARAMS.intRange("port", value, 1, 65535);
            return this;
        }

        Builder mountPort(int value) {
            this.mountPort = PARAMS.intRange("mount-port", value, 1, 65535);
            return this;
        }

        Builder uid(int value) {
            this.uid = PARAMS.intRange("uid", value, 0, Integer.MAX_VALUE);
            return this;
        }

        Builder gid(int value) {
            this.gid = PARAMS.intRange("gid", value, 0, Integer.MAX_VALUE);
            return this;
        }

        Builder deadline(Duration value) {
            this.deadline = Duration.ofMillis(PARAMS.intRange("deadline-ms", value.toMillis(), 1000, 3_600_000));
            return this;
        }

        Builder readParallelism(int value) {
            this.readParallelism = PARAMS.intRange("read-parallelism", value, 1, 64);
            this.readParallelismGiven = true;
            return this;
        }

        Builder parameter(String key, String value) {
            switch (key) {
                case "mount-port" -> mountPort(PARAMS.wholeNumber(key, value));
                case "uid" -> uid(PARAMS.wholeNumber(key, value));
                case "gid" -> gid(PARAMS.wholeNumber(key, value));
                case "deadline-ms" -> deadline(Duration.ofMillis(PARAMS.wholeNumber(key, value)));
                case "read-parallelism" -> readParallelism(PARAMS.wholeNumber(key, value));
                default -> throw new IllegalArgumentException("nfs backend URI has unknown parameter '" + UriParameters.printable(key)
                        + "' (known: " + KNOWN + ")");
            }
            return this;
        }

        NfsConfig build() {
            return new NfsConfig(this);
        }
    }
}
