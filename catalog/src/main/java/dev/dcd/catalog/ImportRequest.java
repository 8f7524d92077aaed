package dev.dcd.catalog;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What to import. Immutable; build with {@link #builder(Path)}.
 *
 * @param name    null to take it from the package metadata or the file name
 * @param version null to take it from the package metadata or the file name
 * @param maxSize the most bytes the source may expand to (zip-bomb guard)
 */
public record ImportRequest(Path source, String name, String version, String backend, long maxSize) {
    public static final long DEFAULT_MAX_SIZE = 16L << 30;

    public ImportRequest {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(backend, "backend");
        if (maxSize <= 0) {
            throw new IllegalArgumentException("--max-size must be positive");
        }
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

        public ImportRequest build() {
            return new ImportRequest(source, name, version, backend, maxSize);
        }
    }
}
