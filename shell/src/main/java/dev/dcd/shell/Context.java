package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Catalog;
import dev.dcd.vdisk.ContentId;

import java.io.Closeable;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every command needs: where {@code $DCD_HOME} is, the catalog and open backends, and the output
 * streams. Opened lazily, so {@code dcd --help} touches nothing, and closed once at exit; an interactive
 * shell keeps one context for all the commands it runs.
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
    private Catalog catalog;
    private final Map<String, Backend> backends = new LinkedHashMap<>();
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
        if (catalog != null && !home.equals(home())) {
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
        return home().resolve("tmp");
    }

    public Path vmsDir() {
        return home().resolve("vms");
    }

    public Path vmDir(String vm) {
        return vmsDir().resolve(vm);
    }

    public Catalog catalog() throws IOException {
        if (catalog == null) {
            catalog = Catalog.open(Catalog.config(home().resolve("catalog"), home().resolve("vdisks")).clock(clock)
                    .lockTimeout(lockTimeout())
                    .notices(line -> {
                        err.println("dcd: " + line);
                        err.flush();
                    })
                    .build());
        }
        return catalog;
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
        Backend open = backends.get(name);
        if (open == null) {
            BackendEntry entry = catalog().requireBackend(name);
            open = Backends.open(name, Backends.parse(entry.uri()));
            backends.put(name, open);
        }
        return open;
    }

    /** Opens a vdisk wherever the catalog says it lives. */
    public dev.dcd.block.BlockDevice openVdisk(ContentId id) throws IOException {
        var users = catalog().usersOf(id);
        if (users.isEmpty()) {
            throw new dev.dcd.catalog.CatalogException("vdisk " + id.shortHex() + " is not in the catalog");
        }
        return backend(users.get(0).backend()).open(id);
    }

    /**
     * Closes the catalog but keeps open backends. Reading takes no lock, but a read view pins the files it
     * opened, so a command that goes on working after reading the catalog (a mount serving for hours) lets go
     * of it and does not keep superseded catalog files on disk.
     */
    public void releaseCatalog() throws IOException {
        if (catalog != null) {
            catalog.close();
            catalog = null;
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
        return home().resolve("cache");
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        for (Backend backend : backends.values()) {
            try {
                backend.close();
            } catch (IOException e) {
                failure = e;
            }
        }
        backends.clear();
        if (catalog != null) {
            catalog.close();
            catalog = null;
        }
        out.flush();
        err.flush();
        if (failure != null) {
            throw failure;
        }
    }
}
