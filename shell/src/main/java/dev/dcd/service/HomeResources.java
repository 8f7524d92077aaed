package dev.dcd.service;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Catalog;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The open catalog and backends of one {@code $DCD_HOME}, opened on first use and closed once. What a
 * {@link DcdEnvironment} reaches them through: the CLI context owns one per command line (or per interactive
 * shell), a test owns one per temporary home.
 */
public final class HomeResources implements Closeable {
    private final Path home;
    private final Clock clock;
    private final Duration lockTimeout;
    private final Consumer<String> notices;
    private final Map<String, Backend> backends = new LinkedHashMap<>();
    private Catalog catalog;

    /**
     * @param notices one-line notices for the user while a write waits for another process's catalog lock
     */
    public HomeResources(Path home, Clock clock, Duration lockTimeout, Consumer<String> notices) {
        this.home = home.toAbsolutePath().normalize();
        this.clock = Objects.requireNonNull(clock, "clock");
        this.lockTimeout = Objects.requireNonNull(lockTimeout, "lockTimeout");
        this.notices = Objects.requireNonNull(notices, "notices");
    }

    /** Resources of {@code home} with the catalog's default lock timeout and no notices. */
    public static HomeResources of(Path home, Clock clock) {
        return new HomeResources(home, clock, Catalog.DEFAULT_LOCK_TIMEOUT, line -> {
        });
    }

    public Path home() {
        return home;
    }

    /** True once the catalog has been opened and not released since. */
    public boolean catalogOpen() {
        return catalog != null;
    }

    public synchronized Catalog catalog() throws IOException {
        if (catalog == null) {
            catalog = Catalog.open(Catalog.config(home.resolve("catalog"), home.resolve("vdisks")).clock(clock)
                    .lockTimeout(lockTimeout).notices(notices).build());
        }
        return catalog;
    }

    /** The backend with this catalog name, opened once and kept until {@link #close()}. */
    public synchronized Backend backend(String name) throws IOException {
        Backend open = backends.get(name);
        if (open == null) {
            BackendEntry entry = catalog().requireBackend(name);
            open = Backends.open(name, Backends.parse(entry.uri()));
            backends.put(name, open);
        }
        return open;
    }

    /**
     * Closes the catalog but keeps open backends. Reading takes no lock, but a read view pins the files it
     * opened, so work that goes on after reading the catalog (a mount serving for hours) lets go of it and does
     * not keep superseded catalog files on disk.
     */
    public synchronized void releaseCatalog() throws IOException {
        if (catalog != null) {
            catalog.close();
            catalog = null;
        }
    }

    /** An environment over these resources; warnings go to {@code warnings}. */
    public DcdEnvironment environment(Consumer<String> warnings) {
        return DcdEnvironment.builder(home).clock(clock).catalogs(this::catalog).backends(this::backend)
                .warnings(warnings).build();
    }

    @Override
    public synchronized void close() throws IOException {
        IOException failure = null;
        for (Backend backend : backends.values()) {
            try {
                backend.close();
            } catch (IOException e) {
                failure = e;
            }
        }
        backends.clear();
        try {
            releaseCatalog();
        } catch (IOException e) {
            failure = e;
        }
        if (failure != null) {
            throw failure;
        }
    }
}
