package dev.dcd.catalog;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.vdisk.ContentId;
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
 * (which VMs an app is assigned to). Values are JSON.
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

    static {
        RocksNative.load(); // once per machine into ~/.cache, not into /tmp on every start
    }

    private final Options options;
    private final RocksDB db;
    private final Clock clock;
    private final ObjectMapper json = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private Catalog(Options options, RocksDB db, Clock clock) {
        this.options = options;
        this.db = db;
        this.clock = clock;
    }

    /**
     * Opens (creating if needed) the catalog in {@code dir}; makes sure the {@value #LOCAL} backend exists and
     * points at {@code localVdisks}.
     */
    public static Catalog open(Path dir, Path localVdisks, Clock clock) throws IOException {
        Files.createDirectories(dir);
        Options options = new Options().setCreateIfMissing(true);
        RocksDB db;
        try {
            db = RocksDB.open(options, dir.toString());
        } catch (RocksDBException e) {
            options.close();
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            if (message.contains("lock")) {
                throw new CatalogException("catalog " + dir + " is in use by another dcd process");
            }
            throw new CatalogException("cannot open catalog " + dir + ": " + message, e);
        }
        Catalog catalog = new Catalog(options, db, clock);
        try {
            catalog.initialize(localVdisks);
        } catch (IOException | RuntimeException e) {
            catalog.close();
            throw e;
        }
        return catalog;
    }

    private void initialize(Path localVdisks) throws IOException {
        String schema = getString(SCHEMA_KEY);
        if (schema != null && !schema.equals(SCHEMA_VERSION)) {
            throw new CatalogException("catalog schema " + schema + " is not supported (this dcd reads " + SCHEMA_VERSION + ")");
        }
        if (schema == null || backend(LOCAL).isEmpty()) {
            try (Batch batch = new Batch()) {
                batch.put(SCHEMA_KEY, SCHEMA_VERSION);
                if (backend(LOCAL).isEmpty()) {
                    batch.putJson(BACKEND + LOCAL, new BackendEntry(LOCAL, localUri(localVdisks).toString()));
                }
                batch.commit();
            }
        }
    }

    static URI localUri(Path dir) {
        return URI.create("local://" + dir.toAbsolutePath().normalize().toUri().getRawPath());
    }

    public Clock clock() {
        return clock;
    }

    // ---------------------------------------------------------------- backends

    public List<BackendEntry> backends() throws IOException {
        return scan(BACKEND, BackendEntry.class);
    }

    public Optional<BackendEntry> backend(String name) throws IOException {
        return Optional.ofNullable(getJson(BACKEND + name, BackendEntry.class));
    }

    public BackendEntry requireBackend(String name) throws IOException {
        return backend(name).orElseThrow(() -> new CatalogException("unknown backend '" + name + "' (see 'dcd backend list')"));
    }

    public BackendEntry addBackend(String name, URI uri) throws IOException {
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

    public void removeBackend(String name) throws IOException {
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
        if (!users.isEmpty()) {
            throw new CatalogException("backend '" + name + "' still holds " + users.size() + " app version(s): "
                    + String.join(", ", users.subList(0, Math.min(5, users.size()))) + (users.size() > 5 ? ", ..." : "")
                    + "; remove them first");
        }
        try (Batch batch = new Batch()) {
            batch.delete(BACKEND + name);
            batch.commit();
        }
    }

    // ---------------------------------------------------------------- apps

    public List<AppVersion> apps() throws IOException {
        List<AppVersion> apps = scan(APP, AppVersion.class);
        apps.sort((a, b) -> a.name().equals(b.name()) ? Names.VERSION_ORDER.compare(a.version(), b.version())
                : a.name().compareTo(b.name()));
        return apps;
    }

    /** All versions of one app, oldest first. */
    public List<AppVersion> versions(String name) throws IOException {
        List<AppVersion> list = scan(APP + name + "/", AppVersion.class);
        list.sort((a, b) -> Names.VERSION_ORDER.compare(a.version(), b.version()));
        return list;
    }

    public Optional<AppVersion> app(String name, String version) throws IOException {
        return Optional.ofNullable(getJson(APP + name + "/" + version, AppVersion.class));
    }

    /** Resolves {@code APP} (newest version) or {@code APP@VERSION}. */
    public AppVersion resolve(String spec) throws IOException {
        int at = spec.indexOf('@');
        String name = at < 0 ? spec : spec.substring(0, at);
        if (at >= 0) {
            String version = spec.substring(at + 1);
            Optional<AppVersion> found = app(name, version);
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

    /** App versions whose vdisk is {@code id}. */
    public List<AppVersion> usersOf(ContentId id) throws IOException {
        List<AppVersion> users = new ArrayList<>();
        forEachKey(CONTENT + id.hex() + "/", key -> {
            String rest = key.substring(CONTENT.length() + id.hex().length() + 1);
            int slash = rest.indexOf('/');
            users.add(new AppVersion(rest.substring(0, slash), rest.substring(slash + 1), id.hex(), "", 0, 0, 0, 0));
        });
        List<AppVersion> resolved = new ArrayList<>();
        for (AppVersion u : users) {
            app(u.name(), u.version()).ifPresent(resolved::add);
        }
        return resolved;
    }

    public void addApp(AppVersion app) throws IOException {
        Names.checkName("app", app.name());
        Names.checkVersion(app.version());
        requireBackend(app.backend());
        if (app(app.name(), app.version()).isPresent()) {
            throw new CatalogException("app " + app.label() + " is already in the catalog");
        }
        try (Batch batch = new Batch()) {
            batch.putJson(APP + app.name() + "/" + app.version(), app);
            batch.put(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version(), app.backend());
            batch.commit();
        }
    }

    /**
     * Removes one app version; refuses while a VM has it assigned.
     *
     * @return true when no other app version shares its vdisk, so the caller may delete the object
     */
    public boolean removeApp(AppVersion app) throws IOException {
        List<String> vms = vmsUsing(app);
        if (!vms.isEmpty()) {
            throw new CatalogException("app " + app.label() + " is assigned to VM(s) " + String.join(", ", vms)
                    + "; unassign it first");
        }
        try (Batch batch = new Batch()) {
            batch.delete(APP + app.name() + "/" + app.version());
            batch.delete(CONTENT + app.contentId() + "/" + app.name() + "/" + app.version());
            batch.commit();
        }
        return usersOf(app.id()).isEmpty();
    }

    /** VMs that have this exact app version assigned. */
    public List<String> vmsUsing(AppVersion app) throws IOException {
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
    public List<String> vmsUsing(String appName) throws IOException {
        List<String> result = new ArrayList<>();
        String prefix = USES + appName + "/";
        forEachKey(prefix, key -> result.add(key.substring(prefix.length())));
        return result;
    }

    // ---------------------------------------------------------------- VMs

    public List<Vm> vms() throws IOException {
        return scan(VM, Vm.class);
    }

    public Optional<Vm> vm(String name) throws IOException {
        return Optional.ofNullable(getJson(VM + name, Vm.class));
    }

    public Vm requireVm(String name) throws IOException {
        return vm(name).orElseThrow(() -> new CatalogException("unknown VM '" + name + "' (see 'dcd vm list')"));
    }

    public Vm createVm(String name, String fsType, long sizeBytes) throws IOException {
        return createVm(name, fsType, sizeBytes, Vm.SYMLINKS_SKIP);
    }

    public Vm createVm(String name, String fsType, long sizeBytes, String symlinks) throws IOException {
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
    public void putVm(Vm vm) throws IOException {
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

    public void removeVm(String name) throws IOException {
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

    /** Every key and value, in key order; for tests and {@code --debug} dumps. */
    public Map<String, String> dump() throws IOException {
        Map<String, String> all = new LinkedHashMap<>();
        try (RocksIterator it = db.newIterator()) {
            for (it.seekToFirst(); it.isValid(); it.next()) {
                all.put(new String(it.key(), StandardCharsets.UTF_8), new String(it.value(), StandardCharsets.UTF_8));
            }
            check(it);
        }
        return all;
    }

    private void forEachKey(String prefix, Consumer<String> action) throws IOException {
        byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
        try (RocksIterator it = db.newIterator()) {
            for (it.seek(p); it.isValid() && startsWith(it.key(), p); it.next()) {
                action.accept(new String(it.key(), StandardCharsets.UTF_8));
            }
            check(it);
        }
    }

    private <T> List<T> scan(String prefix, Class<T> type) throws IOException {
        byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
        List<T> result = new ArrayList<>();
        try (RocksIterator it = db.newIterator()) {
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
            byte[] value = db.get(key.getBytes(StandardCharsets.UTF_8));
            return value == null ? null : new String(value, StandardCharsets.UTF_8);
        } catch (RocksDBException e) {
            throw new CatalogException("catalog read failed: " + e.getMessage(), e);
        }
    }

    private <T> T getJson(String key, Class<T> type) throws IOException {
        try {
            byte[] value = db.get(key.getBytes(StandardCharsets.UTF_8));
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
            try (WriteOptions options = new WriteOptions().setSync(true)) {
                db.write(options, batch);
            } catch (RocksDBException e) {
                throw new CatalogException("catalog write failed: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            batch.close();
        }
    }

    @Override
    public void close() {
        db.close();
        options.close();
    }
}
