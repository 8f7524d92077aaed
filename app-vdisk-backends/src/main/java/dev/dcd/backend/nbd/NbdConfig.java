package dev.dcd.backend.nbd;

import dev.dcd.backend.UriParameters;

import java.time.Duration;
import java.util.Map;

/**
 * How the client talks to one export. Immutable; built with {@link #builder()} or from an nbd URI's query
 * ({@code ?connections=4&pipeline=4&deadline-ms=30000&connect-timeout-ms=5000&request-kib=1024}).
 *
 * @param connections     most connections open at once
 * @param pipeline        most requests in flight on one connection (NBD lets a client send requests without waiting
 *                        for replies; a server such as nbdkit serves them in parallel): with {@code connections},
 *                        at most {@code connections * pipeline} requests at once
 * @param deadline        longest one read or write may take, retries included
 * @param connectTimeout  longest one connection attempt (TCP connect plus handshake) may take
 * @param maxRequestBytes longest single NBD request; longer reads and writes are split
 * @param baseDelay       pause before the first retry; doubles each retry up to {@link #MAX_DELAY}
 */
public record NbdConfig(int connections, int pipeline, Duration deadline, Duration connectTimeout,
                        int maxRequestBytes, Duration baseDelay) {
    public static final Duration MAX_DELAY = Duration.ofSeconds(1);
    private static final UriParameters PARAMS = new UriParameters("nbd");
    public static final NbdConfig DEFAULT = builder().build();
    private static final java.util.List<String> KNOWN =
            java.util.List.of("connections", "pipeline", "deadline-ms", "connect-timeout-ms", "request-kib", "backoff-ms");

    public NbdConfig {
        if (connections < 1 || connections > 64) {
            throw new IllegalArgumentException("connections must be between 1 and 64, not " + connections);
        }
        if (pipeline < 1 || pipeline > 64) {
            throw new IllegalArgumentException("pipeline must be between 1 and 64, not " + pipeline);
        }
        if (maxRequestBytes < 4096 || maxRequestBytes > NbdProtocol.DEFAULT_MAX_PAYLOAD) {
            throw new IllegalArgumentException("request size must be between 4 KiB and 32 MiB");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().connections(connections).pipeline(pipeline).deadline(deadline).connectTimeout(connectTimeout)
                .maxRequestBytes(maxRequestBytes).baseDelay(baseDelay);
    }

    /** This configuration with the URI query's settings applied; an unknown key is a one-line error. */
    public static NbdConfig fromQuery(Map<String, String> query) {
        Builder b = builder();
        for (Map.Entry<String, String> e : query.entrySet()) {
            if (!KNOWN.contains(e.getKey())) {
                throw new IllegalArgumentException("unknown NBD URI parameter '" + e.getKey() + "' (known: "
                        + String.join(", ", KNOWN) + ")");
            }
            long value = PARAMS.number(e.getKey(), e.getValue());
            switch (e.getKey()) {
                case "connections" -> b.connections((int) PARAMS.range(e.getKey(), value, 1, 64));
                case "pipeline" -> b.pipeline((int) PARAMS.range(e.getKey(), value, 1, 64));
                case "deadline-ms" -> b.deadline(Duration.ofMillis(PARAMS.range(e.getKey(), value, 100, 3_600_000)));
                case "connect-timeout-ms" -> b.connectTimeout(Duration.ofMillis(PARAMS.range(e.getKey(), value, 10, 600_000)));
                case "request-kib" -> b.maxRequestBytes((int) PARAMS.range(e.getKey(), value, 4, 32 * 1024) * 1024);
                case "backoff-ms" -> b.baseDelay(Duration.ofMillis(PARAMS.range(e.getKey(), value, 1, 60_000)));
                default -> throw new IllegalStateException("unreachable: " + e.getKey());
            }
        }
        return b.build();
    }

    public static final class Builder {
        private int connections = 4;
        /**
         * Four requests per connection: sixteen 1 MiB requests in flight over the default four connections, 16 MiB
         * per round trip (at 20 ms, up to ~800 MiB/s), where one request per connection left 4 MiB per round trip
         * (LunLatencyBench, docs/benchmarks.md). nbdkit serves up to 16 requests of one connection at once.
         */
        private int pipeline = 4;
        private Duration deadline = Duration.ofSeconds(30);
        private Duration connectTimeout = Duration.ofSeconds(5);
        private int maxRequestBytes = 1024 * 1024;
        private Duration baseDelay = Duration.ofMillis(20);

        public Builder connections(int value) {
            connections = value;
            return this;
        }

        public Builder pipeline(int value) {
            pipeline = value;
            return this;
        }

        public Builder deadline(Duration value) {
            deadline = value;
            return this;
        }

        public Builder connectTimeout(Duration value) {
            connectTimeout = value;
            return this;
        }

        public Builder maxRequestBytes(int value) {
            maxRequestBytes = value;
            return this;
        }

        public Builder baseDelay(Duration value) {
            baseDelay = value;
            return this;
        }

        public NbdConfig build() {
            return new NbdConfig(connections, pipeline, deadline, connectTimeout, maxRequestBytes, baseDelay);
        }
    }
}
