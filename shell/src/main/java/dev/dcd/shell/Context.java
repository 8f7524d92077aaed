package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.catalog.Catalog;
import dev.dcd.service.DcdEnvironment;
import dev.dcd.service.HomeResources;
import dev.dcd.service.ProgressSink;
import dev.dcd.vdisk.ContentId;

import java.io.Closeable;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;

/**
 * What every command needs: the CLI's own concerns (output streams, {@code --json}, {@code --debug}, whether
 * stderr is a terminal) and the {@link #environment()} the use cases in {@code dev.dcd.service} run in. The
 * catalog and backends behind it are opened lazily, so {@code dcd --help} touches nothing, and closed once at
 * exit; an interactive shell keeps one context for all the commands it runs.
 */
public final class Context implements Closeable {
    private final Map<String, String> env;
    private final PrintWriter out;
    private final PrintWriter err;
    private final Clock clock;
    private final boolean interactiveErr;
    private Path homeOverride;
    private boolean json;
    private boolean debug;
    private HomeResources resources;
    private Long cacheSize;
    static final long DEFAULT_CACHE_SIZE = 2L << 30;

    public Context(Map<String, String> env, PrintWriter out, PrintWriter err, Clock clock, boolean interactiveErr) {
        this.env = env;
        this.out = out;
        this.err = err;
        this.clock = clock;
        this.interactiveErr = interactiveErr;
    }

    public PrintWriter out() {
        return out;
    }

    public PrintWriter err() {
        return err;
    }

    public Map<String, String> env() {
        return env;
    }

    public Clock clock() {
        return clock;
    }

    /** True when stderr is a terminal, so progress bars make sense. */
    public boolean interactiveErr() {
        return interactiveErr;
    }

    public void setHome(Path home) {
        if (resources != null && resources.catalogOpen() && !home.equals(home())) {
            throw new IllegalStateException("--home cannot change once the catalog is open");
        }
        this.homeOverride = home;
    }

    public void setJson(boolean json) {
        this.json = json;
    }

    public boolean json() {
        return json;
    }

    public void setDebug(boolean debug) {
        this.debug = debug;
    }

    public boolean debug() {
        return debug;
    }

    /** {@code --home}, else {@code $DCD_HOME}, else {@code ~/.dcd}. */
    public Path home() {
        if (homeOverride != null) {
            return homeOverride.toAbsolutePath().normalize();
        }
        String fromEnv = env.get("DCD_HOME");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv).toAbsolutePath().normalize();
        }
        String userHome = env.getOrDefault("HOME", System.getProperty("user.home"));
        return Path.of(userHome, ".dcd").toAbsolutePath().normalize();
    }

    public Path tmpDir() {
        return environment().tmpDir();
    }

    public Path vmsDir() {
        return environment().vmsDir();
    }

    public Path vmDir(String vm) {
        return environment().vmDir(vm);
    }

    public Catalog catalog() throws IOException {
        return resources().catalog();
    }

    /** The catalog and backends of {@link #home()}, opened on first use; a changed home gets its own. */
    private HomeResources resources() throws IOException {
        Path home = home();
        if (resources != null && !resources.home().equals(home)) {
            resources.close();
            resources = null;
        }
        if (resources == null) {
            resources = new HomeResources(home, clock, lockTimeout(), line -> {
                err.println("dcd: " + line);
                err.flush();
            });
        }
        return resources;
    }

    /**
     * The use cases' view of this context: the same home, catalog, backends and clock, with warnings printed as
     * {@code dcd: warning: LINE}. Built on each call, since {@code --home} may still change before the catalog opens.
     */
    public DcdEnvironment environment() {
        return DcdEnvironment.builder(home()).clock(clock).catalogs(this::catalog).backends(this::backend)
                .warnings(line -> {
                    err.println("dcd: warning: " + line);
                    err.flush();
                }).build();
    }

    /** Progress of the services' long tasks, as a bar on stderr when it is a terminal (see {@link ProgressReporter}). */
    public ProgressSink progress() {
        return (task, total) -> new ProgressReporter(this, task, total);
    }

    /** How long a write waits for another process's: {@code $DCD_LOCK_TIMEOUT} seconds, else 30. */
    java.time.Duration lockTimeout() {
        String fromEnv = env.get(LOCK_TIMEOUT_ENV);
        if (fromEnv == null || fromEnv.isBlank()) {
            return Catalog.DEFAULT_LOCK_TIMEOUT;
        }
        try {
            double seconds = Double.parseDouble(fromEnv.trim());
            if (seconds >= 0 && seconds <= 86_400) {
                return java.time.Duration.ofMillis(Math.round(seconds * 1000));
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(LOCK_TIMEOUT_ENV + " must be a number of seconds from 0 to 86400, not '"
                + (fromEnv.length() > 40 ? fromEnv.substring(0, 40) + "..." : fromEnv) + "'");
    }

    static final String LOCK_TIMEOUT_ENV = "DCD_LOCK_TIMEOUT";

    /** The backend with this catalog name, opened once per context. */
    public Backend backend(String name) throws IOException {
        return resources().backend(name);
    }

    /** Opens a vdisk wherever the catalog says it lives. */
    public dev.dcd.block.BlockDevice openVdisk(ContentId id) throws IOException {
        return environment().openVdisk(id);
    }

    /**
     * Closes the catalog but keeps open backends. Reading takes no lock, but a read view pins the files it
     * opened, so a command that goes on working after reading the catalog (a mount serving for hours) lets go
     * of it and does not keep superseded catalog files on disk.
     */
    public void releaseCatalog() throws IOException {
        if (resources != null) {
            resources.releaseCatalog();
        }
    }

    /** Shared block cache size for remote backends: {@code --cache-size}, else $DCD_CACHE_SIZE, else 2 GiB. */
    public long cacheSize() {
        if (cacheSize != null) {
            return cacheSize;
        }
        String fromEnv = env.get("DCD_CACHE_SIZE");
        return fromEnv == null || fromEnv.isBlank() ? DEFAULT_CACHE_SIZE : dev.dcd.catalog.Sizes.parse(fromEnv);
    }

    public void setCacheSize(Long bytes) {
        this.cacheSize = bytes;
    }

    /** True when {@code --cache-size} was given on this command line (a serving process must inherit it). */
    public boolean cacheSizeGiven() {
        return cacheSize != null;
    }

    public Path cacheDir() {
        return environment().cacheDir();
    }

    @Override
    public void close() throws IOException {
        try {
            if (resources != null) {
                resources.close();
                resources = null;
            }
        } finally {
            out.flush();
            err.flush();
        }
    }
}
