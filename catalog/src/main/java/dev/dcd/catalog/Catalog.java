package dev.dcd.catalog;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

import java.io.Closeable;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The catalog: apps, backends and VMs in a RocksDB database. Every change that touches more than one key
 * goes through one {@link WriteBatch}, so a crash never leaves an index pointing at nothing.
 *
 * <p>Key layout (see docs/catalog.md): {@code backend/<name>}, {@code app/<name>/<version>},
 * {@code content/<hex>/<name>/<version>} (who uses a vdisk), {@code vm/<name>}, {@code uses/<app>/<vm>}
 * (which VMs an app is assigned to), {@code retired/<hex>/<name>/<version>} (a removed app version whose vdisk
 * a kept generation still reads). Values are JSON.
 *
 * <p>Many processes use one catalog at once. Reads go to a read-only RocksDB instance, which takes no lock
 * and writes nothing (so it works while another process writes, and on a full disk). Each write runs in a
 * short write session ({@link #write}): take the {@link CatalogLock}, open the database for writing, check
 * and commit, close. Checks that guard a write (does the app exist, is it still unassigned) run inside the
 * session, against what is committed now, not against the read view, which is a snapshot from its open.
 */
public final class Catalog implements Closeable {
    public static final String LOCAL = "local";
    static final String SCHEMA_KEY = "meta/schema";
    static final String SCHEMA_VERSION = "1";
    static final String BACKEND = "backend/";
    static final String APP = "app/";
    static final String CONTENT = "content/";
    static final String VM = "vm/";
    static final String USES = "uses/";
    static final String RETIRED = "retired/";
    /** {@code prefetch/<contentId>}: the app vdisk's start-up trace, a {@link PrefetchList} in its binary form. */
    static final String PREFETCH = "prefetch/";
    /** {@code kept/<contentId>/<backend>}: a copy {@code catalog move --keep-source} kept there, a {@link KeptCopy}. */
    static final String KEPT = "kept/";
    /** Default bound on waiting for another process's write. */
    public static final Duration DEFAULT_LOCK_TIMEOUT = Duration.ofSeconds(30);
    private static final String NO_SPACE = "No space left on device";

    static {
        RocksNative.load(); // once per machine into ~/.cache, not into /tmp on every start
    }

    private final Config config;
    private final Clock clock;
    private final SpaceReserve reserve;
    private final ObjectMapper json = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** Read-only snapshot, opened on first read and dropped after each own write; null when closed. */
    private Options viewOptions;
    private RocksDB view;
    /** The writing instance while a write session runs, else null. */
    private RocksDB writer;
    private boolean wrote;

    private Catalog(Config config) {
        this.config = config;
        this.clock = config.clock();
        this.reserve = new SpaceReserve(config.dir());
    }

    /** What {@link #open(Config)} needs. Immutable; build with {@link #config(Path, Path)}. */
    public record Config(Path dir, Path localVdisks, Clock clock, Duration lockTimeout, String holder,
                         Consumer<String> notices) {
        public Config {
            java.util.Objects.requireNonNull(dir, "dir");
            java.util.Objects.requireNonNull(localVdisks, "localVdisks");
            java.util.Objects.requireNonNull(clock, "clock");
            java.util.Objects.requireNonNull(lockTimeout, "lockTimeout");
            java.util.Objects.requireNonNull(holder, "holder");
            java.util.Objects.requireNonNull(notices, "notices");
            if (lockTimeout.isNegative()) {
                throw new IllegalArgumentException("the lock timeout must not be negative");
            }
        }

        public static final class Builder {
            private final Path dir;
            private final Path localVdisks;
            private Clock clock = Clock.systemUTC();
            private Duration lockTimeout = DEFAULT_LOCK_TIMEOUT;
            private String holder = CatalogLock.describeThisProcess();
            private Consumer<String> notices = line -> {
            };

            private Builder(Path dir, Path localVdisks) {
                this.dir = dir;
                this.localVdisks = localVdisks;
            }

            public Builder clock(Clock value) {
                this.clock = value;
                return this;
            }

            /** How long a write waits for another process's write session before it gives up. */
            public Builder lockTimeout(Duration value) {
                this.lockTimeout = value;
                return this;
            }

            /** What this process is, shown to a process that waits for its lock. */
            public Builder holder(String value) {
                this.holder = value;
                return this;
            }

            /** One-line notices for the user (stderr): what a write waits for. */
            public Builder notices(Consumer<String> value) {
                this.notices = value;
                return this;
            }

            public Config build() {
                return new Config(dir, localVdisks, clock, lockTimeout, holder, notices);
            }
        }
    }

    public static Config.Builder config(Path dir, Path localVdisks) {
        return new Config.Builder(dir, localVdisks);
    }

    /**
     * Opens (creating if needed) the catalog in {@code dir}; makes sure the {@value #LOCAL} backend exists and
     * points at {@code localVdisks}.
     */
    public static Catalog open(Path dir, Path localVdisks, Clock clock) throws IOException {
        return open(config(dir, localVdisks).clock(clock).build());
    }

    /**
     * Opens the catalog for reading; creates it (a short write session) when it does not exist yet or lacks
     * its schema mark or the {@value #LOCAL} backend. Opening an existing catalog writes nothing.
     */
    public static Catalog open(Config config) throws IOException {
        Files.createDirectories(config.dir());
        Catalog catalog = new Catalog(config);
        try {
            if (!Files.exists(config.dir().resolve("CURRENT")) || !catalog.initialized()) {
                catalog.write(() -> {
                    catalog.initialize(config.localVdisks());
                    return null;
                });
            }
        } catch (IOException | RuntimeException e) {
            catalog.close();
            throw e;
        }
        return catalog;
    }

    private boolean initialized() throws IOException {
        String schema = getString(SCHEMA_KEY);
        if (schema != null && !schema.equals(SCHEMA_VERSION)) {
            throw new CatalogException("catalog schema " + schema + " is not supported (this dcd reads " + SCHEMA_VERSION + ")");
        }
        return schema != null && backend(LOCAL).isPresent();
    }

    private void initialize(Path localVdisks) throws IOException {
        if (initialized()) {
            return;
        }
        try (Batch batch = new Batch()) {
            batch.put(SCHEMA_KEY, SCHEMA_VERSION);
            if (backend(LOCAL).isEmpty()) {
                batch.putJson(BACKEND + LOCAL, new BackendEntry(LOCAL, localUri(localVdisks).toString()));
            }
            batch.commit();
        }
    }

    /** A unit of work inside a write session. */
    @FunctionalInterface
    public interface Write<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code action} holding the catalog's write lock, with every read inside it seeing the committed
     * state (not the read view's snapshot). Waits for another process's session at most the configured
     * timeout, saying once who holds it. Nested calls join the running session. Commands whose checks and
     * writes must not interleave with another process's (read a VM, change it, store it) put all of it in
     * one {@code write}; slow work (extracting, synthesizing, uploading) stays outside.
     */
    public synchronized <T> T write(Write<T> action) throws IOException {
        if (writer != null) {
            return action.run();
        }
        try (CatalogLock.Held held = CatalogLock.acquire(config.dir(), config.lockTimeout(), config.holder(),
                config.notices())) {
            closeView();
            if (reserve.releaseIfLow()) {
                config.notices().accept("the filesystem of " + config.dir() + " is nearly full; this write uses the"
                        + " catalog's reserved " + Sizes.format(SpaceReserve.SIZE));
            }
            Options options = writerOptions();
            try {
                writer = openWriter(options);
                wrote = true;
                try {
                    TestGate.pass(TestGate.CATALOG_WRITE);
                    return action.run();
                } finally {
                    RocksDB w = writer;
                    writer = null;
                    w.close();
                }
            } finally {
                options.close();
            }
        }
    }

    private static Options writerOptions() {
        return new Options().setCreateIfMissing(true)
                // A preallocated WAL would reserve tens of MB per session: the catalog writes a few KB.
                .setAllowFAllocate(false)
                .setKeepLogFileNum(2)
                .setInfoLogLevel(InfoLogLevel.WARN_LEVEL);
    }

    private RocksDB openWriter(Options options) throws IOException {
        try {
            return RocksDB.open(options, config.dir().toString());
        } catch (RocksDBException e) {
            String message = message(e);
            if (message.contains(NO_SPACE) && reserve.release()) {
                config.notices().accept("the filesystem of " + config.dir() + " is full; this write uses the catalog's"
                        + " reserved " + Sizes.format(SpaceReserve.SIZE));
                try {
                    return RocksDB.open(options, config.dir().toString());
                } catch (RocksDBException again) {
                    throw writeFailure(again);
                }
            }
            if (message.contains("lock")) {
                // Only a dcd from before the write lock, or a foreign tool, holds RocksDB's own lock that long.
                throw new CatalogException("catalog " + config.dir() + " is in use by another process that does not"
                        + " take dcd's write lock (" + message + ")");
            }
            throw writeFailure(e);
        }
    }

    private CatalogException writeFailure(RocksDBException e) {
        String message = message(e);
        if (message.contains(NO_SPACE)) {
            return new CatalogException("cannot write the catalog " + config.dir() + ": no space left on its filesystem;"
                    + " free some space (dcd disk discard, dcd catalog gc, or outside dcd) and try again", e);
        }
        return new CatalogException("cannot open catalog " + config.dir() + " for writing: " + message, e);
    }

    private static String message(RocksDBException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    /** The instance reads go to: the writer inside a write session, else the read-only view. */
    private RocksDB db() throws IOException {
        if (writer != null) {
            return writer;
        }
        if (view == null) {
            openView();
        }
        return view;
    }

    /**
     * Opens the read-only view. It takes no lock and writes nothing, not even an info log. With every table
     * file opened up front ({@code max_open_files=-1}) a writer's compaction cannot pull a file from under it
     * later. Should a writer replace a file during the open itself, the second try waits for the write lock,
     * which no writer then holds.
     */
    private void openView() throws IOException {
        Options options = new Options().setMaxOpenFiles(-1).setInfoLogLevel(InfoLogLevel.WARN_LEVEL);
        try {
            view = RocksDB.openReadOnly(options, config.dir().toString());
        } catch (RocksDBException first) {
            try (CatalogLock.Held held = CatalogLock.acquire(config.dir(), config.lockTimeout(), config.holder(),
                    config.notices())) {
                view = RocksDB.openReadOnly(options, config.dir().toString());
            } catch (RocksDBException e) {
                options.close();
                throw new CatalogException("cannot open catalog " + config.dir() + ": " + message(e), e);
            } catch (IOException | RuntimeException e) {
                options.close();
                throw e;
            }
        }
        viewOptions = options;
    }

    /**
     * Drops the read view, so the next read sees what other processes committed since this catalog's first
     * read. A command's reads share one snapshot until then; a long-lived holder (a shell) refreshes between
     * commands.
     */
    public synchronized void refresh() {
        if (writer == null) {
            closeView();
        }
    }

    private void closeView() {
        if (view != null) {
            view.close();
            view = null;
        }
        if (viewOptions != null) {
            viewOptions.close();
            viewOptions = null;
        }
    }

    static URI localUri(Path dir) {
        return URI.create("local://" + dir.toAbsolutePath().normalize().toUri().getRawPath());
    }

    public Clock clock() {
        return clock;
    }

    // ---------------------------------------------------------------- backends

    public synchronized List<BackendEntry> backends() throws IOException {
        return scan(BACKEND, BackendEntry.class);
    }

    public synchronized Optional<BackendEntry> backend(String name) throws IOException {
        return Optional.ofNullable(getJson(BACKEND + name, BackendEntry.class));
    }

    public synchronized BackendEntry requireBackend(String name) throws IOException {
        return backend(name).orElseThrow(() -> new CatalogException("unknown backend '" + name + "' (see 'dcd backend list')"));
    }

    public synchronized BackendEntry addBackend(String name, URI uri) throws IOException {
        if (writer == null) {
            return write(() -> addBackend(name, uri));
        }
        Names.checkName("backend", name);
        if (backend(name).isPresent()) {
            throw new CatalogException("backend '" + name + "' already exists");
        }
        BackendEntry entry = new BackendEntry(name, uri.toString());
        try (Batch batch = new Batch()) {
            batch.putJson(BACKEND + name, entry);
            batch.commit();
        }
        return entry;
    }

    public synchronized void removeBackend(String name) throws IOException {
        if (writer == null) {
            write(() -> {
                removeBackend(name);
                return null;
            });
            return;
        }
        requireBackend(name);
        if (name.equals(LOCAL)) {
            throw new CatalogException("backend 'local' is built in and cannot be removed");
        }
        List<String> users = new ArrayList<>();
        for (AppVersion app : apps()) {
            if (app.backend().equals(name)) {
                users.add(app.label());
            }
        }
        for (AppVersion app : retired()) {
            if (app.backend().equals(name)) {
                users.add(app.label() + " (removed, still used by a disk generation)");
            }
        }
        if (!users.isEmpty()) {
            throw new CatalogException("backend '" + name + "' still holds " + users.size() + " app version(s): "
                    + String.join(", ", users.subList(0, Math.min(5, users.size()))) + (users.size() > 5 ? ", ..." : "")
                    + "; remove them first");
        }
        try (Batch batch = new Batch()) {
            batch.delete(BACKEND + name);
            // Copies kept there are no longer the catalog's business (like any object on a backend it forgets).
            for (KeptCopy k : keptCopies()) {
                if (k.backend().equals(name)) {
                    batch.delete(keptKey(k.id(), name));
                }
            }
            batch.commit();
        }
    }

    // ---------------------------------------------------------------- apps

    public synchronized List<AppVersion> apps() throws IOException {
        List<AppVersion> apps = scan(APP, AppVersion.class);
        apps.sort((a, b) -> a.name().equals(b.name()) ? Names.VERSION_ORDER.compare(a.version(), b.version())
                : a.name().compareTo(b.name()));
        return apps;
    }

    /** All versions of one app, oldest first. */
    public synchronized List<AppVersion> versions(String name) throws IOException {
        List<AppVersion> list = scan(APP + name + "/", AppVersion.class);
        list.sort((a, b) -> Names.VERSION_ORDER.compare(a.version(), b.version()));
        return list;
    }

    public synchronized Optional<AppVersion> app(String name, String version) throws IOException {
        return Optional.ofNullable(getJson(APP + name + "/" + version, AppVersion.class));
    }

    /** Resolves {@code APP} (newest version) or {@code APP@VERSION}. */
    public synchronized AppVersion resolve(String spec) throws IOException {
        int at = spec.indexOf('@');
        String name = at < 0 ? spec : spec.substring(0, at);
        if (at >= 0) {
            String version = spec.substring(at + 1);
            Optional<AppVersion> found = app(name, version);
            if (found.isEmpty() && retired().stream().anyMatch(r -> r.name().equals(name) && r.version().equals(version))) {
                throw new CatalogException("app " + name + "@" + version + " was removed; its vdisk is kept only for the"
                        + " disk generations that still read it ('dcd catalog gc --dry-run' names them)");
            }
            if (found.isEmpty()) {
                throw new CatalogException("app " + name + "@" + version + " is not in the catalog"
                        + (versions(name).isEmpty() ? "" : " (versions: " + versionList(name) + ")"));
            }
            return found.get();
        }
        List<AppVersion> versions = versions(name);
        if (versions.isEmpty()) {
            throw new CatalogException("app '" + name + "' is not in the catalog (see 'dcd catalog list')");
        }
        return versions.get(versions.size() - 1);
    }

    private String versionList(String name) throws IOException {
        List<String> list = new ArrayList<>();
        for (AppVersion v : versions(name)) {
            list.add(v.version());
        }
        return String.join(", ", list);
    }

    /**
     * App versions whose vdisk is {@code id}, retired ones included: a retired version still tells where its
     * vdisk lives, so the generations that read it can be mounted and exported.
     */
    public synchronized List<AppVersion> usersOf(ContentId id) throws IOException {
        List<AppVersion> users = new ArrayList<>();
        forEachKey(CONTENT + id.hex() + "/", key -> {
            String rest = key.substring(CONTENT.length() + id.hex().length() + 1);
            int slash = rest.indexOf('/');
            users.add(new AppVersion(rest.substring(0, slash), rest.substring(slash + 1), id.hex(), "", 0, 0, 0, 0));
        });
        List<AppVersion> resolved = new ArrayList<>();
        for (AppVersion u : users) {
            Optional<AppVersion> live = app(u.name(), u.version()).filter(a -> a.contentId().equals(id.hex()));
            if (live.isPresent()) {
                resolved.add(live.get());
            } else {
                Optional.ofNullable(getJson(retiredKey(id.hex(), u.name(), u.version()), AppVersion.class))
                        .ifPresent(resolved::add);
            }
        }
        return resolved;
    }

    public synchronized void addApp(AppVersion app) throws IOException {
        if (writer == null) {
            write(() -> {
                addApp(app);
                return null;
            });
            return;
        }
        Names.checkName("app", app.name());
        Names.checkVersion(app.version());
        requireBackend(app.backend());
        if (app(app.name(), app.version()).isPresent()) {
            throw new CatalogException("app " + app.label() + " is already in the catalog");
        }
        try (Batch batch = new Batch()) {
            batch.putJson(APP + app.name() + "/" + app.version(), app);
            batch.put(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version(), app.backend());
            // The same name, version and content imported again: the retired row is live again.
            batch.delete(retiredKey(app.contentId(), app.name(), app.version()));
            batch.commit();
        }
    }

    /**
     * Removes one app version; refuses while a VM has it assigned.
     *
     * @return true when no other app version shares its vdisk, so the caller may delete the object
     */
    public synchronized boolean removeApp(AppVersion app) throws IOException {
        if (writer == null) {
            return write(() -> removeApp(app));
        }
        List<String> vms = vmsUsing(app);
        if (!vms.isEmpty()) {
            throw new CatalogException("app " + app.label() + " is assigned to VM(s) " + String.join(", ", vms)
                    + "; unassign it first");
        }
        boolean lastUser = onlyUserIs(app);
        try (Batch batch = new Batch()) {
            batch.delete(APP + app.name() + "/" + app.version());
            batch.delete(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version());
            if (lastUser) {
                // The start-up trace and kept copies belong to the vdisk; with its last user gone they would only be
                // garbage (the caller deletes the kept copies' objects with the vdisk's, see keptCopies).
                batch.delete(PREFETCH + app.contentId());
                deleteKeptRows(batch, app.id());
            }
            batch.commit();
        }
        return lastUser;
    }

    /** Whether {@code app} is the only version, live or retired, that uses its vdisk. */
    private boolean onlyUserIs(AppVersion app) throws IOException {
        return usersOf(app.id()).stream().allMatch(u -> u.name().equals(app.name()) && u.version().equals(app.version()));
    }

    /**
     * Retires an app version whose vdisk a kept disk generation still reads: it leaves {@code catalog list} and
     * can no longer be assigned, but its {@code content/} row stays (as {@code retired/…}), so the vdisk keeps
     * its backend and is never deleted while referenced. {@link #forgetRetired} ends it once nothing reads it.
     * Refuses while a VM has the version assigned, like {@link #removeApp}.
     */
    public synchronized void retireApp(AppVersion app) throws IOException {
        if (writer == null) {
            write(() -> {
                retireApp(app);
                return null;
            });
            return;
        }
        List<String> vms = vmsUsing(app);
        if (!vms.isEmpty()) {
            throw new CatalogException("app " + app.label() + " is assigned to VM(s) " + String.join(", ", vms)
                    + "; unassign it first");
        }
        if (app(app.name(), app.version()).filter(app::equals).isEmpty()) {
            throw new CatalogException("app " + app.label() + " is not in the catalog");
        }
        try (Batch batch = new Batch()) {
            batch.delete(APP + app.name() + "/" + app.version());
            batch.putJson(retiredKey(app.contentId(), app.name(), app.version()), app);
            batch.commit();
        }
    }

    /**
     * Moves the catalog's record of vdisk {@code id} from backend {@code from} to backend {@code to}: every app
     * version, live or retired, whose vdisk it is and that lives on {@code from} names {@code to} afterwards. One
     * batch, so a reader sees the vdisk on one backend or the other, never on both or neither. The caller has
     * stored and verified the vdisk on {@code to} before ({@code catalog move}).
     *
     * @return the app versions switched, as they are now
     */
    public synchronized List<AppVersion> switchBackend(ContentId id, String from, String to) throws IOException {
        return switchBackend(id, from, to, false);
    }

    /**
     * {@link #switchBackend(ContentId, String, String)}, and with {@code keepFrom} records in the same batch that the
     * copy left on {@code from} is kept on purpose ({@code catalog move --keep-source}), so {@code catalog gc} does not
     * take it for a spare copy. A kept record on {@code to} is dropped in the same batch: that copy is the one the
     * catalog names now.
     */
    public synchronized List<AppVersion> switchBackend(ContentId id, String from, String to, boolean keepFrom)
            throws IOException {
        if (writer == null) {
            return write(() -> switchBackend(id, from, to, keepFrom));
        }
        requireBackend(to);
        List<AppVersion> switched = new ArrayList<>();
        try (Batch batch = new Batch()) {
            for (AppVersion app : usersOf(id)) {
                if (!app.backend().equals(from)) {
                    continue;
                }
                AppVersion moved = new AppVersion(app.name(), app.version(), app.contentId(), to, app.fileCount(),
                        app.byteCount(), app.vdiskBytes(), app.importedAt());
                String appKey = APP + app.name() + "/" + app.version();
                if (app(app.name(), app.version()).filter(app::equals).isPresent()) {
                    batch.putJson(appKey, moved);
                } else {
                    batch.putJson(retiredKey(app.contentId(), app.name(), app.version()), moved);
                }
                batch.put(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version(), to);
                switched.add(moved);
            }
            if (switched.isEmpty()) {
                throw new CatalogException("no app version has vdisk " + id.shortHex() + " on backend '" + from + "'");
            }
            batch.delete(keptKey(id, to));
            if (keepFrom) {
                batch.putJson(keptKey(id, from), new KeptCopy(id.hex(), from, clock.millis()));
            } else {
                batch.delete(keptKey(id, from));
            }
            batch.commit();
        }
        return switched;
    }

    /** Retired app versions (removed, their vdisk kept for generations that read it), by content id. */
    public synchronized List<AppVersion> retired() throws IOException {
        return scan(RETIRED, AppVersion.class);
    }

    /**
     * Drops a retired version's rows, in one batch.
     *
     * @return true when no app version, live or retired, uses its vdisk any more, so the caller may delete
     *         the object once it has made sure no generation reads it
     */
    public synchronized boolean forgetRetired(AppVersion app) throws IOException {
        if (writer == null) {
            return write(() -> forgetRetired(app));
        }
        String key = retiredKey(app.contentId(), app.name(), app.version());
        if (getJson(key, AppVersion.class) == null) {
            throw new CatalogException("app " + app.label() + " (vdisk " + app.id().shortHex() + ") is not retired");
        }
        boolean lastUser = onlyUserIs(app);
        try (Batch batch = new Batch()) {
            batch.delete(key);
            batch.delete(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version());
            if (lastUser) {
                batch.delete(PREFETCH + app.contentId());
                deleteKeptRows(batch, app.id());
            }
            batch.commit();
        }
        return lastUser;
    }

    /** Every copy kept by {@code catalog move --keep-source}, by content id then backend. */
    public synchronized List<KeptCopy> keptCopies() throws IOException {
        return scan(KEPT, KeptCopy.class);
    }

    /** The kept copies of one vdisk. */
    public synchronized List<KeptCopy> keptCopies(ContentId id) throws IOException {
        return scan(KEPT + id.hex() + "/", KeptCopy.class);
    }

    /** Forgets that the copy of {@code id} on {@code backend} is kept (it was deleted); returns whether it was. */
    public synchronized boolean forgetKept(ContentId id, String backend) throws IOException {
        if (writer == null) {
            return write(() -> forgetKept(id, backend));
        }
        if (getString(keptKey(id, backend)) == null) {
            return false;
        }
        try (Batch batch = new Batch()) {
            batch.delete(keptKey(id, backend));
            batch.commit();
        }
        return true;
    }

    private void deleteKeptRows(Batch batch, ContentId id) throws IOException {
        for (KeptCopy k : keptCopies(id)) {
            batch.delete(keptKey(id, k.backend()));
        }
    }

    private static String keptKey(ContentId id, String backend) {
        return KEPT + id.hex() + "/" + backend;
    }

    private static String retiredKey(String contentId, String name, String version) {
        return RETIRED + contentId + "/" + name + "/" + version;
    }

    /** VMs that have this exact app version assigned. */
    public synchronized List<String> vmsUsing(AppVersion app) throws IOException {
        List<String> result = new ArrayList<>();
        for (String vmName : vmsUsing(app.name())) {
            Optional<Vm> vm = vm(vmName);
            Optional<Vm.Assignment> assignment = vm.isPresent() ? vm.get().assignment(app.name()) : Optional.empty();
            if (assignment.isPresent() && assignment.get().version().equals(app.version())) {
                result.add(vmName);
            }
        }
        return result;
    }

    /** VMs that have any version of the app assigned. */
    public synchronized List<String> vmsUsing(String appName) throws IOException {
        List<String> result = new ArrayList<>();
        String prefix = USES + appName + "/";
        forEachKey(prefix, key -> result.add(key.substring(prefix.length())));
        return result;
    }

    // ---------------------------------------------------------------- VMs

    public synchronized List<Vm> vms() throws IOException {
        return scan(VM, Vm.class);
    }

    public synchronized Optional<Vm> vm(String name) throws IOException {
        return Optional.ofNullable(getJson(VM + name, Vm.class));
    }

    public synchronized Vm requireVm(String name) throws IOException {
        return vm(name).orElseThrow(() -> new CatalogException("unknown VM '" + name + "' (see 'dcd vm list')"));
    }

    public synchronized Vm createVm(String name, String fsType, long sizeBytes) throws IOException {
        return createVm(name, fsType, sizeBytes, Vm.SYMLINKS_SKIP);
    }

    public synchronized Vm createVm(String name, String fsType, long sizeBytes, String symlinks) throws IOException {
        if (writer == null) {
            return write(() -> createVm(name, fsType, sizeBytes, symlinks));
        }
        Names.checkName("VM", name);
        if (vm(name).isPresent()) {
            throw new CatalogException("VM '" + name + "' already exists");
        }
        Vm vm = new Vm(name, fsType, sizeBytes, clock.instant().getEpochSecond(), List.of(), 0, List.of(), symlinks);
        try (Batch batch = new Batch()) {
            batch.putJson(VM + name, vm);
            batch.commit();
        }
        return vm;
    }

    /** Stores a changed VM and brings the app-to-VM index in line, in one batch. */
    public synchronized void putVm(Vm vm) throws IOException {
        if (writer == null) {
            write(() -> {
                putVm(vm);
                return null;
            });
            return;
        }
        Vm old = requireVm(vm.name());
        for (Vm.Assignment a : vm.apps()) {
            if (app(a.app(), a.version()).isEmpty()) {
                throw new CatalogException("app " + a.label() + " is not in the catalog");
            }
        }
        try (Batch batch = new Batch()) {
            for (Vm.Assignment a : old.apps()) {
                batch.delete(USES + a.app() + "/" + vm.name());
            }
            for (Vm.Assignment a : vm.apps()) {
                batch.put(USES + a.app() + "/" + vm.name(), a.version());
            }
            batch.putJson(VM + vm.name(), vm);
            batch.commit();
        }
    }

    public synchronized void removeVm(String name) throws IOException {
        if (writer == null) {
            write(() -> {
                removeVm(name);
                return null;
            });
            return;
        }
        Vm vm = requireVm(name);
        try (Batch batch = new Batch()) {
            for (Vm.Assignment a : vm.apps()) {
                batch.delete(USES + a.app() + "/" + name);
            }
            batch.delete(VM + name);
            batch.commit();
        }
    }

    // ---------------------------------------------------------------- plumbing

    // ---------------------------------------------------------------- prefetch lists

    /**
     * The start-up trace recorded for a vdisk, checked field by field (docs/prefetch.md); empty when none was
     * recorded. A damaged list is an error naming it.
     */
    public synchronized Optional<PrefetchList> prefetchList(ContentId id) throws IOException {
        byte[] bytes;
        try {
            bytes = db().get((PREFETCH + id).getBytes(StandardCharsets.UTF_8));
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
        if (bytes == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(PrefetchList.decode(bytes, id, -1, "of vdisk " + id.shortHex() + " in " + config.dir()));
        } catch (IOException e) {
            throw new CatalogException(e.getMessage(), e);
        }
    }

    /**
     * Stores a recorded list unless the vdisk has one already (the first recording wins; {@code catalog prefetch
     * clear} makes room for a new one). A damaged stored list counts as none. Returns whether it was stored.
     */
    public synchronized boolean putPrefetchListIfAbsent(PrefetchList list) throws IOException {
        if (writer == null) {
            return write(() -> putPrefetchListIfAbsent(list));
        }
        try {
            if (prefetchList(list.contentId()).isPresent()) {
                return false;
            }
        } catch (CatalogException damaged) {
            // replaced below
        }
        try (Batch batch = new Batch()) {
            batch.putBytes(PREFETCH + list.contentId(), list.encode());
            batch.commit();
        }
        return true;
    }

    /** Stores a list recorded by command in place of any the vdisk has (damaged or not). */
    public synchronized void putPrefetchList(PrefetchList list) throws IOException {
        if (writer == null) {
            write(() -> {
                putPrefetchList(list);
                return null;
            });
            return;
        }
        try (Batch batch = new Batch()) {
            batch.putBytes(PREFETCH + list.contentId(), list.encode());
            batch.commit();
        }
    }

    /** Drops a vdisk's list; returns whether there was one. */
    public synchronized boolean removePrefetchList(ContentId id) throws IOException {
        if (writer == null) {
            return write(() -> removePrefetchList(id));
        }
        boolean had;
        try {
            had = db().get((PREFETCH + id).getBytes(StandardCharsets.UTF_8)) != null;
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
        if (had) {
            try (Batch batch = new Batch()) {
                batch.delete(PREFETCH + id);
                batch.commit();
            }
        }
        return had;
    }

    /** Every key and value, in key order; for tests and {@code --debug} dumps. */
    public synchronized Map<String, String> dump() throws IOException {
        Map<String, String> all = new LinkedHashMap<>();
        try (RocksIterator it = db().newIterator()) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                all.put(new String(it.key(), StandardCharsets.UTF_8), new String(it.value(), StandardCharsets.UTF_8));
            }
            check(it);
        }
        return all;
    }

    private void forEachKey(String prefix, Consumer<String> action) throws IOException {
        byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
        try (RocksIterator it = db().newIterator()) {
            for (it.seek(p); it.isValid() && startsWith(it.key(), p); it.next()) {
                action.accept(new String(it.key(), StandardCharsets.UTF_8));
            }
            check(it);
        }
    }

    private <T> List<T> scan(String prefix, Class<T> type) throws IOException {
        byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
        List<T> result = new ArrayList<>();
        try (RocksIterator it = db().newIterator()) {
            for (it.seek(p); it.isValid() && startsWith(it.key(), p); it.next()) {
                result.add(json.readValue(it.value(), type));
            }
            check(it);
        }
        return result;
    }

    private static void check(RocksIterator it) throws CatalogException {
        try {
            it.status();
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
    }

    private static boolean startsWith(byte[] key, byte[] prefix) {
        if (key.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (key[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }

    private String getString(String key) throws IOException {
        try {
            byte[] value = db().get(key.getBytes(StandardCharsets.UTF_8));
            return value == null ? null : new String(value, StandardCharsets.UTF_8);
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
    }

    private <T> T getJson(String key, Class<T> type) throws IOException {
        try {
            byte[] value = db().get(key.getBytes(StandardCharsets.UTF_8));
            return value == null ? null : json.readValue(value, type);
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
    }

    /** One atomic, synced write. */
    private final class Batch implements AutoCloseable {
        private final WriteBatch batch = new WriteBatch();

        void put(String key, String value) throws CatalogException {
            try {
                batch.put(key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8));
            } catch (RocksDBException e) {
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        void putBytes(String key, byte[] value) throws CatalogException {
            try {
                batch.put(key.getBytes(StandardCharsets.UTF_8), value);
            } catch (RocksDBException e) {
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        void putJson(String key, Object value) throws IOException {
            try {
                batch.put(key.getBytes(StandardCharsets.UTF_8), json.writeValueAsBytes(value));
            } catch (RocksDBException e) {
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        void delete(String key) throws CatalogException {
            try {
                batch.delete(key.getBytes(StandardCharsets.UTF_8));
            } catch (RocksDBException e) {
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        void commit() throws CatalogException {
            if (writer == null) {
                throw new IllegalStateException("a catalog batch commits only inside a write session");
            }
            try (WriteOptions options = new WriteOptions().setSync(true)) {
                writer.write(options, batch);
            } catch (RocksDBException e) {
                if (message(e).contains(NO_SPACE)) {
                    throw writeFailure(e);
                }
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            batch.close();
        }
    }

    /** Closes the read view; after a write, tops the space reserve up again if there is room now. */
    @Override
    public synchronized void close() {
        closeView();
        if (wrote) {
            reserve.replenish();
        }
    }
}
