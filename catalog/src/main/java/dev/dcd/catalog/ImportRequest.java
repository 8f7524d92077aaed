package dev.dcd.catalog;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What to import. Immutable; build with {@link #builder(Path)}.
 *
 * @param name    null to take it from the package metadata or the file name
 * @param version null to take it from the package metadata or the file name
 * @param maxSize the most bytes the source may expand to (zip-bomb guard)
 * @param maxRatio the most bytes a compressed source may expand to per compressed byte read so far, once past
 *                 {@link ExpansionGuard#FLOOR} (decompression-bomb guard); 0 turns the check off
 */
public record ImportRequest(Path source, String name, String version, String backend, long maxSize, long maxRatio) {
    public static final long DEFAULT_MAX_SIZE = 16L << 30;
    /** gzip's own ceiling is about 1030:1; real app archives stay well under 100:1 (source trees: 5-15:1). */
    public static final long DEFAULT_MAX_RATIO = 100;

    public ImportRequest {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(backend, "backend");
        if (maxSize <= 0) {
            throw new IllegalArgumentException("--max-size must be positive");
        }
        if (maxRatio < 0) {
            throw new IllegalArgumentException("--max-ratio must be 0 (no limit) or positive");
        }
    }

    public ImportRequest(Path source, String name, String version, String backend, long maxSize) {
        this(source, name, version, backend, maxSize, DEFAULT_MAX_RATIO);
    }

    public static Builder builder(Path source) {
        return new Builder(source);
    }

    public static final class Builder {
        private final Path source;
        private String name;
        private String version;
        private String backend = Catalog.LOCAL;
        private long maxSize = DEFAULT_MAX_SIZE;
        private long maxRatio = DEFAULT_MAX_RATIO;

        private Builder(Path source) {
            this.source = source;
        }

        public Builder name(String value) {
            this.name = value;
            return this;
        }

        public Builder version(String value) {
            this.version = value;
            return this;
        }

        public Builder backend(String value) {
            this.backend = value;
            return this;
        }

        public Builder maxSize(long value) {
            this.maxSize = value;
            return this;
        }

        public Builder maxRatio(long value) {
            this.maxRatio = value;
            return this;
        }

        public ImportRequest build() {
            return new ImportRequest(source, name, version, backend, maxSize, maxRatio);
        }
    }
}
