package dev.dcd.service;

import dev.dcd.backend.Backend;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Everything a use case needs from the outside world, and nothing about how it was asked for: where
 * {@code $DCD_HOME} is, how to reach the catalog and the backends, the clock, and where warnings go. The CLI
 * builds one from its context, tests from {@link HomeResources}; services never see argv, picocli or a terminal.
 *
 * <p>Immutable. The catalog and backends are reached through openers, so an environment is cheap to build and
 * opens nothing until a service asks; the opener's owner decides their lifetime.
 */
public final class DcdEnvironment {
    /** Reaches the catalog; the same open catalog on every call until its owner releases it. */
    @FunctionalInterface
    public interface CatalogSource {
        Catalog catalog() throws IOException;
    }

    /** Reaches a backend by its catalog name; the owner keeps it open and closes it. */
    @FunctionalInterface
    public interface BackendSource {
        Backend backend(String name) throws IOException;
    }

    static final String TMP = "tmp";
    static final String VMS = "vms";
    static final String CACHE = "cache";
    static final String GENERATION_PREFIX = "gen-";

    private final Path home;
    private final Clock clock;
    private final CatalogSource catalogs;
    private final BackendSource backends;
    private final Consumer<String> warnings;

    private DcdEnvironment(Builder b) {
        this.home = b.home.toAbsolutePath().normalize();
        this.clock = Objects.requireNonNull(b.clock, "clock");
        this.catalogs = Objects.requireNonNull(b.catalogs, "catalogs");
        this.backends = Objects.requireNonNull(b.backends, "backends");
        this.warnings = Objects.requireNonNull(b.warnings, "warnings");
    }

    public static Builder builder(Path home) {
        return new Builder(home);
    }

    public Path home() {
        return home;
    }

    public Clock clock() {
        return clock;
    }

    /** Imports and builds in progress; what is left there after a crash is never a finished object. */
    public Path tmpDir() {
        return home.resolve(TMP);
    }

    public Path vmsDir() {
        return home.resolve(VMS);
    }

    public Path vmDir(String vm) {
        return vmsDir().resolve(vm);
    }

    /** {@code vms/VM/gen-N}: a generation's thin image, region map, file index and overlay. */
    public Path generationDir(String vm, int generation) {
        return vmDir(vm).resolve(GENERATION_PREFIX + generation);
    }

    /** The shared block cache of remote backends. */
    public Path cacheDir() {
        return home.resolve(CACHE);
    }

    public Catalog catalog() throws IOException {
        return catalogs.catalog();
    }

    public Backend backend(String name) throws IOException {
        return backends.backend(name);
    }

    /** Opens a vdisk wherever the catalog says it lives. */
    public BlockDevice openVdisk(ContentId id) throws IOException {
        var users = catalog().usersOf(id);
        if (users.isEmpty()) {
            throw new CatalogException("vdisk " + id.shortHex() + " is not in the catalog");
        }
        return backend(users.get(0).backend()).open(id);
    }

    /** A one-line warning for the user (the CLI prints it as {@code dcd: warning: LINE}). */
    public void warn(String line) {
        warnings.accept(line);
    }

    public Consumer<String> warnings() {
        return warnings;
    }

    public static final class Builder {
        private final Path home;
        private Clock clock = Clock.systemUTC();
        private CatalogSource catalogs;
        private BackendSource backends;
        private Consumer<String> warnings = line -> {
        };

        private Builder(Path home) {
            this.home = Objects.requireNonNull(home, "home");
        }

        public Builder clock(Clock value) {
            this.clock = value;
            return this;
        }

        public Builder catalogs(CatalogSource value) {
            this.catalogs = value;
            return this;
        }

        public Builder backends(BackendSource value) {
            this.backends = value;
            return this;
        }

        public Builder warnings(Consumer<String> value) {
            this.warnings = value;
            return this;
        }

        public DcdEnvironment build() {
            return new DcdEnvironment(this);
        }
    }
}
