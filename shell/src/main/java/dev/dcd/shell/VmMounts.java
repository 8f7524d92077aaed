package dev.dcd.shell;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.BlockCache;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.PrefetchConfig;
import dev.dcd.filter.PrefetchStore;
import dev.dcd.filter.ReadaheadConfig;
import dev.dcd.filter.VdiskLabel;
import dev.dcd.mount.GenerationLock;
import dev.dcd.mount.MountContext;
import dev.dcd.mount.MountSource;
import dev.dcd.mount.MountSourceFactory;
import dev.dcd.service.DcdEnvironment;
import dev.dcd.service.VmService;
import dev.dcd.synth.FileIndex;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.VmdkDescriptor;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Opens a VM's current disk generation as the full filter chain, for the FUSE mount. This is the one seam
 * between the catalog and the mount: everything the chain needs is read from the catalog up front, then
 * the catalog is released so other dcd commands keep working while the disk is served.
 */
final class VmMounts implements MountContext, MountSourceFactory {
    /** Built on first use, so building the command tree does not load Jackson. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }
    private static final String LOCAL_SCHEME = "local";
    static final String CACHE_LOCK = "lock";

    private final Context context;

    VmMounts(Context context) {
        this.context = context;
    }

    @Override
    public Path dcdHome() {
        return context.home();
    }

    @Override
    public MountSourceFactory sources() {
        return this;
    }

    /** Checked in the environment dcd was run with (tests hand in their own). */
    @Override
    public dev.dcd.mount.SystemTools tools() {
        return dev.dcd.mount.SystemTools.of(context.env());
    }

    /** The serving process must see the same home and cache size as the command that started it. */
    @Override
    public List<String> relaunchPrefix() {
        List<String> prefix = new ArrayList<>(MountContext.super.relaunchPrefix());
        prefix.add("--home");
        prefix.add(context.home().toString());
        if (context.cacheSizeGiven()) {
            prefix.add("--cache-size");
            prefix.add(Long.toString(context.cacheSize()));
        }
        if (context.debug()) {
            prefix.add("--debug");
        }
        return prefix;
    }

    @Override
    public MountSource open(String vmName) throws IOException {
        return open(vmName, 0);
    }

    @Override
    public MountSource open(String vmName, int number) throws IOException {
        DcdEnvironment env = context.environment();
        Catalog catalog = env.catalog();
        Vm vm = catalog.requireVm(vmName);
        Vm.Generation generation = VmService.generation(vm, number == 0 ? null : number);
        Path dir = env.generationDir(vmName, generation.number());
        for (Vm.Generation older : vm.generations()) {
            if (older.number() < generation.number()
                    && DynamicContentDisk.hasWrites(env.generationDir(vmName, older.number()))) {
                context.err().println("dcd: warning: generation " + older.number() + " of VM '" + vmName + "' holds guest"
                        + " writes that generation " + generation.number() + ", mounted now, does not have; they stay in"
                        + " generation " + older.number() + " ('dcd mount " + vmName + " DIR --generation " + older.number()
                        + "' serves them, 'dcd disk export " + vmName + " FILE --generation " + older.number() + "' saves them)");
                context.err().flush();
            }
        }
        RegionMap map = RegionMap.load(dir.resolve(SynthesizedDisk.REGIONS));
        Map<ContentId, VdiskLabel> labels = new HashMap<>();
        Map<ContentId, Backend> backendOf = new HashMap<>();
        Set<String> remote = new HashSet<>();
        for (ContentId id : map.vdisks()) {
            List<AppVersion> users = catalog.usersOf(id);
            if (users.isEmpty()) {
                throw new CatalogException("VM '" + vmName + "' generation " + generation.number() + " uses vdisk "
                        + id.shortHex() + ", which is no longer in the catalog; rebuild with 'dcd disk build " + vmName + "'");
            }
            AppVersion app = users.get(0);
            labels.put(id, new VdiskLabel(app.label(), app.backend()));
            backendOf.put(id, env.backend(app.backend()));
            BackendEntry entry = catalog.requireBackend(app.backend());
            if (!LOCAL_SCHEME.equals(Backends.parse(entry.uri()).getScheme())) {
                remote.add(app.backend());
            }
        }
        Map<ContentId, PrefetchList> lists = new HashMap<>();
        List<String> damagedLists = new ArrayList<>();
        for (ContentId id : map.vdisks()) {
            if (remote.contains(labels.get(id).backend())) {
                try {
                    catalog.prefetchList(id).ifPresent(list -> lists.put(id, list));
                } catch (CatalogException e) {
                    damagedLists.add(e.getMessage());
                }
            }
        }
        context.releaseCatalog();

        // One writer per generation: a second serving process would keep its own overlay map and lose writes.
        GenerationLock lock = GenerationLock.acquire(dir, "VM " + vmName + " generation " + generation.number());
        SharedCache cache;
        try {
            cache = remote.isEmpty() ? null : SharedCache.open(context.cacheDir(), context.cacheSize(), vmName);
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
        DynamicContentDisk disk;
        try {
            DynamicContentDisk.Builder builder = DynamicContentDisk.builder()
                    .generationDir(dir)
                    .vmId(vmName)
                    .labels(labels)
                    .resolver(id -> {
                        Backend backend = backendOf.get(id);
                        if (backend == null) {
                            throw new IOException("vdisk " + id.shortHex() + " is not part of VM " + vmName);
                        }
                        return backend.open(id);
                    })
                    // Readahead pays off where a request costs a round trip; on a local file it only adds work.
                    .readahead(ReadaheadConfig.DEFAULT, remote);
            if (cache != null) {
                builder.cache(cache.cache(), remote)
                        .prefetch(new CatalogPrefetchStore(context, lists, damagedLists), prefetchConfig(context))
                        .notices(line -> {
                            System.err.println(line);
                            System.err.flush();
                        });
            }
            disk = builder.build();
        } catch (IOException | RuntimeException e) {
            if (cache != null) {
                cache.close();
            }
            lock.close();
            throw e;
        }
        FileIndex files = FileIndex.load(dir.resolve(FileIndex.FILE_NAME), map.size());
        String vmdk = VmdkDescriptor.monolithicFlat(map.size(), "disk.img", vmName + "/gen-" + generation.number()).render();
        String description = "vm " + vmName + ": " + vm.fsType() + ", " + Sizes.format(map.size()) + ", generation "
                + generation.number() + ", " + generation.fileCount() + " files";
        Source source = new Source(disk, files, vmdk, description, cache, generation, vm.fsType(), lock);
        source.switching((id, name) -> {
            // Asked by 'catalog move' through the control channel: what the catalog says now, not at mount time.
            try {
                Catalog current = env.catalog();
                current.refresh();
                BackendEntry entry = current.requireBackend(name);
                // A move switches the catalog before it asks the servers, and an undone move switches it back
                // before it asks them back. So a request the catalog does not agree with is stale: one a move
                // gave up waiting for (this server was stopped or slow) and then undid. Obeying it would leave
                // this server reading a copy the catalog does not name, which the move or a later gc deletes.
                if (current.usersOf(id).stream().noneMatch(a -> a.backend().equals(name))) {
                    throw new IOException("the catalog does not name backend '" + name + "' for vdisk " + id.shortHex()
                            + " (a stale request of a move that was undone?); it stays where it is");
                }
                boolean isRemote = !LOCAL_SCHEME.equals(Backends.parse(entry.uri()).getScheme());
                return new Target(env.backend(name), isRemote);
            } finally {
                context.releaseCatalog();
            }
        }, () -> SharedCache.open(context.cacheDir(), context.cacheSize(), vmName));
        return source;
    }

    /** A backend an app is switched to, and whether it is remote (read through the shared cache, prefetched). */
    record Target(Backend backend, boolean remote) {
    }

    /** Finds the backend a {@code resolve} request names. */
    @FunctionalInterface
    interface Targets {
        /** The backend named {@code name}, which the catalog must name for vdisk {@code id} now. */
        Target target(ContentId id, String name) throws IOException;
    }

    /** Opens the shared cache when an app of a mount that had none moves to a remote backend. */
    @FunctionalInterface
    interface CacheOpener {
        SharedCache open() throws IOException;
    }

    /** {@code DCD_PREFETCH_SECONDS}: the recording window (default 30 s); 0 records nothing, replay stays on. */
    static PrefetchConfig prefetchConfig(Context context) throws CatalogException {
        String value = context.env().get("DCD_PREFETCH_SECONDS");
        if (value == null || value.isBlank()) {
            return PrefetchConfig.DEFAULT;
        }
        long seconds;
        try {
            seconds = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            seconds = -1;
        }
        if (seconds < 0 || seconds > 86_400) {
            throw new CatalogException("DCD_PREFETCH_SECONDS must be a number of seconds from 0 to 86400, not '" + value + "'");
        }
        return seconds == 0 ? PrefetchConfig.DEFAULT.withRecord(false)
                : PrefetchConfig.DEFAULT.withWindow(java.time.Duration.ofSeconds(seconds));
    }

    /**
     * The catalog's {@code prefetch/} keys as the chain's list store: lists read before the catalog was released,
     * a recorded list stored in a short write session of its own (the serving process keeps no catalog open).
     */
    static final class CatalogPrefetchStore implements PrefetchStore {
        private final Context context;
        private final Map<ContentId, PrefetchList> lists;
        private final List<String> damaged;

        CatalogPrefetchStore(Context context, Map<ContentId, PrefetchList> lists, List<String> damaged) {
            this.context = context;
            this.lists = Map.copyOf(lists);
            this.damaged = new ArrayList<>(damaged);
        }

        @Override
        public PrefetchList load(ContentId id) throws IOException {
            for (String line : damaged) {
                if (line.contains(id.shortHex())) {
                    throw new CatalogException(line);
                }
            }
            return lists.get(id);
        }

        @Override
        public synchronized boolean saveIfAbsent(PrefetchList list) throws IOException {
            try {
                return context.catalog().putPrefetchListIfAbsent(list);
            } finally {
                context.releaseCatalog();
            }
        }

        @Override
        public synchronized void replace(PrefetchList list) throws IOException {
            try {
                context.catalog().putPrefetchList(list);
            } finally {
                context.releaseCatalog();
            }
        }
    }

    /** The shared block cache; the first serving process owns it, later ones fall back to a cache of their own. */
    record SharedCache(BlockCache cache, FileChannel lockChannel, FileLock lock) {
        static SharedCache open(Path dir, long size, String vm) throws IOException {
            Files.createDirectories(dir);
            FileChannel channel = FileChannel.open(dir.resolve(CACHE_LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock != null) {
                return new SharedCache(BlockCache.open(dir, size), channel, lock);
            }
            channel.close();
            // Another process serves from the shared cache; its slot index lives in that process, so this one
            // keeps its own rather than racing it. Still keyed by content id, still never stale.
            Path own = dir.resolve("vm-" + vm);
            System.err.println("dcd: the shared cache in " + dir + " is in use by another mount; VM " + vm
                    + " uses " + own);
            return new SharedCache(BlockCache.open(own, size), null, null);
        }

        void close() {
            try {
                cache.close();
                if (lockChannel != null) {
                    lockChannel.close();
                }
            } catch (IOException e) {
                System.err.println("dcd: closing the block cache: " + e.getMessage());
            }
        }
    }

    private static final class Source implements MountSource {
        private final DynamicContentDisk disk;
        private final FileIndex files;
        private final String vmdk;
        private final String description;
        private volatile SharedCache cache;
        private final Vm.Generation generation;
        private final String fsType;
        private final GenerationLock lock;
        private final boolean startedLocal;
        private Targets targets;
        private CacheOpener cacheOpener;

        Source(DynamicContentDisk disk, FileIndex files, String vmdk, String description, SharedCache cache,
               Vm.Generation generation, String fsType, GenerationLock lock) {
            this.lock = lock;
            this.disk = disk;
            this.files = files;
            this.vmdk = vmdk;
            this.description = description;
            this.cache = cache;
            this.generation = generation;
            this.fsType = fsType;
            this.startedLocal = cache == null;
        }

        void switching(Targets targets, CacheOpener cacheOpener) {
            this.targets = targets;
            this.cacheOpener = cacheOpener;
        }

        /** One switch at a time: each opens and checks its new device, then flips one slot. */
        @Override
        public synchronized boolean switchBackend(ContentId id, String backend) throws IOException {
            if (!disk.uses(id)) {
                return false;
            }
            if (targets == null) {
                throw new IOException("this server cannot switch backends");
            }
            Target target = targets.target(id, backend);
            if (target.remote() && cache == null) {
                cache = cacheOpener.open();
                disk.useCache(cache.cache());
            }
            disk.switchVdisk(id, backend, target.backend()::open, target.remote());
            System.err.println("dcd: vdisk " + id.shortHex() + " of VM " + disk.stats().vm() + " is served from "
                    + backend + " now");
            return true;
        }

        @Override
        public String backendOf(ContentId id) {
            return disk.backendOf(id);
        }

        @Override
        public int recordPrefetch(ContentId id, java.time.Duration window) throws IOException {
            java.util.concurrent.CompletableFuture<PrefetchList> recording = disk.recordPrefetch(id, window);
            if (recording == null) {
                return -1;
            }
            try {
                PrefetchList list = recording.get();
                return list == null ? 0 : list.size();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while recording");
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                throw new IOException("could not store the prefetch list: "
                        + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage()), cause);
            }
        }

        @Override
        public String controlStatus() {
            StringBuilder apps = new StringBuilder();
            disk.stats().serving().forEach((app, backend) -> apps.append(apps.length() == 0 ? "" : ",")
                    .append(app).append(':').append(backend));
            return "generation=" + generation.number() + " pid=" + ProcessHandle.current().pid() + " apps=" + apps;
        }

        @Override
        public BlockDevice disk() {
            return disk;
        }

        /** No shared cache at mount time means no remote backend: every app vdisk was a local file. */
        @Override
        public boolean localOnly() {
            return startedLocal;
        }

        @Override
        public FileIndex files() {
            return files;
        }

        @Override
        public String vmdkDescriptor() {
            return vmdk;
        }

        @Override
        public byte[] statsJson() {
            Map<String, Object> all = new LinkedHashMap<>();
            all.put("generation", generation.number());
            all.put("fs", fsType);
            try {
                all.put("disk", Json.MAPPER.readTree(disk.stats().toJson()));
            } catch (IOException e) {
                all.put("disk", e.getMessage());
            }
            SharedCache shared = cache;
            if (shared != null) {
                all.put("cache", shared.cache().stats());
                all.put("prefetch", disk.prefetchStats());
            }
            long[] readahead = disk.readaheadCounters();
            Map<String, Long> ahead = new LinkedHashMap<>();
            ahead.put("prefetches", readahead[0]);
            ahead.put("hits", readahead[1]);
            all.put("readahead", ahead);
            long[] opened = disk.openAheadCounters();
            Map<String, Long> openAhead = new LinkedHashMap<>();
            openAhead.put("opened", opened[0]);
            openAhead.put("failed", opened[1]);
            all.put("openAhead", openAhead);
            try {
                return (Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(all) + "\n").getBytes(StandardCharsets.UTF_8);
            } catch (IOException e) {
                return ("{\"error\": \"" + e.getMessage() + "\"}\n").getBytes(StandardCharsets.UTF_8);
            }
        }

        @Override
        public String describe() {
            return description;
        }

        @Override
        public void start() {
            disk.openAhead();
            disk.startPrefetch();
        }

        @Override
        public void awaitStarted(java.time.Duration limit) {
            try {
                disk.awaitOpenAhead(limit.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public long partitionOffset() {
            return generation.partitionOffset();
        }

        @Override
        public int generation() {
            return generation.number();
        }

        @Override
        public long createdEpochSeconds() {
            return generation.builtAt() / 1000;
        }

        @Override
        public void close() throws IOException {
            try {
                disk.close();
            } finally {
                SharedCache shared = cache;
                if (shared != null) {
                    shared.close();
                }
                lock.close();
            }
        }
    }
}
