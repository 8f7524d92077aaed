package dev.dcd.nbd;

import java.util.Objects;
import java.util.function.Consumer;

/** Immutable configuration of an {@link NbdServer}; build with {@link #builder(NbdExport, NbdEndpoint)}. */
public final class NbdServerConfig {
    /**
     * Workers per connection: enough to overlap a client's reads (qemu and nbdcopy keep several in flight)
     * on a small machine, as nbdkit's default of 16 threads does on larger ones.
     */
    public static final int DEFAULT_WORKERS = 4;
    /** Bytes of READ and WRITE payload one connection may have in flight before its reader waits. */
    public static final int DEFAULT_INFLIGHT_BYTES = 64 << 20;
    /** Errors logged per connection before it goes quiet, so a misbehaving client cannot flood the log. */
    public static final int DEFAULT_LOGGED_ERRORS = 20;

    private final NbdExport export;
    private final NbdEndpoint endpoint;
    private final int workers;
    private final int inflightBytes;
    private final int loggedErrors;
    private final Consumer<String> log;

    private NbdServerConfig(Builder b) {
        this.export = b.export;
        this.endpoint = b.endpoint;
        this.workers = b.workers;
        this.inflightBytes = b.inflightBytes;
        this.loggedErrors = b.loggedErrors;
        this.log = b.log;
    }

    public static Builder builder(NbdExport export, NbdEndpoint endpoint) {
        return new Builder(export, endpoint);
    }

    public NbdExport export() {
        return export;
    }

    public NbdEndpoint endpoint() {
        return endpoint;
    }

    public int workers() {
        return workers;
    }

    public int inflightBytes() {
        return inflightBytes;
    }

    public int loggedErrors() {
        return loggedErrors;
    }

    public Consumer<String> log() {
        return log;
    }

    public static final class Builder {
        private final NbdExport export;
        private final NbdEndpoint endpoint;
        private int workers = DEFAULT_WORKERS;
        private int inflightBytes = DEFAULT_INFLIGHT_BYTES;
        private int loggedErrors = DEFAULT_LOGGED_ERRORS;
        private Consumer<String> log = NbdServer.stderr();

        private Builder(NbdExport export, NbdEndpoint endpoint) {
            this.export = Objects.requireNonNull(export, "export");
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
        }

        public Builder workers(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("workers must be at least 1");
            }
            this.workers = n;
            return this;
        }

        /** At least one maximal payload, so that any legal request can be admitted. */
        public Builder inflightBytes(int bytes) {
            if (bytes < NbdWire.MAX_PAYLOAD) {
                throw new IllegalArgumentException("in-flight budget must be at least " + NbdWire.MAX_PAYLOAD);
            }
            this.inflightBytes = bytes;
            return this;
        }

        public Builder loggedErrors(int n) {
            this.loggedErrors = n;
            return this;
        }

        public Builder log(Consumer<String> log) {
            this.log = Objects.requireNonNull(log, "log");
            return this;
        }

        public NbdServerConfig build() {
            return new NbdServerConfig(this);
        }
    }
}
