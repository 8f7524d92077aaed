package dev.dcd.service;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.dcd.backend.Backend;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.KeptCopy;
import dev.dcd.catalog.VdiskReferences;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * {@code dcd catalog gc}: reclaims vdisk copies nothing reads any more, on every backend. Three kinds
 * (docs/data-safety.md, docs/catalog-move.md):
 *
 * <ul>
 *   <li>the vdisk of a retired app version that no kept generation and no live mount reads: its catalog rows are
 *       dropped, then the object;</li>
 *   <li>a <b>spare copy</b>: a vdisk on backend B whose content id the catalog places on other backends only (a
 *       {@code catalog move} killed between switching the catalog and deleting its source, or whose delete
 *       failed). Kept generations do not pin B, because a generation resolves its vdisks through the catalog
 *       when it is mounted (retired rows included), and no row names B. Only a server that opened the vdisk on
 *       B before the catalog switched may still read it there, so the copy is deleted only when every live
 *       server says it does not ({@link LiveReaders}; one that does not answer counts as reading it), and only
 *       while the copy the catalog names is present and of the same size (so it is never the only copy);</li>
 *   <li>a <b>kept copy</b> ({@code catalog move --keep-source}, recorded at {@code kept/<id>/<backend>}) is left alone
 *       unless {@code keptCopies}, or unless every app version of the vdisk is forgotten in this run; then it is a
 *       spare copy like the others, and its record goes with it;</li>
 *   <li>with {@code orphans}, vdisks the catalog does not know at all.</li>
 * </ul>
 *
 * A real run decides and deletes inside one catalog write session, so no import, build or move can make a copy
 * needed between the decision and the delete; a dry run only reads.
 */
public final class GcService {
    /** Vdisks of retired versions something still reads. */
    public static final String KEPT = "kept";
    /** Retired rows dropped; another app version keeps the vdisk. */
    public static final String FORGET_SHARED = "forget-shared";
    public static final String DELETE = "delete";
    /** Not in the catalog; kept without {@code orphans}. */
    public static final String ORPHAN = "orphan";
    public static final String DELETE_ORPHAN = "delete-orphan";
    /** A spare copy that a live server may still read, or that is not known to have a twin; kept. */
    public static final String SPARE = "spare";
    public static final String DELETE_SPARE = "delete-spare";
    /** A copy {@code catalog move --keep-source} kept; left alone without {@code keptCopies}. */
    public static final String KEPT_COPY = "kept-copy";

    /** Reads the references of every kept generation and live mount (the data-safety invariant's one place). */
    @FunctionalInterface
    public interface ReferenceSource {
        VdiskReferences compute() throws IOException;
    }

    /** The live servers (FUSE mounts, NBD servers) that read, or may read, vdisk copies. */
    @FunctionalInterface
    public interface LiveReaders {
        /**
         * Why the copy of {@code id} on {@code backend} may still be read there: one phrase per server that reads it
         * from that backend or cannot tell ("the mount of VM vl reads it from local", "the NBD server of VM web did
         * not answer ..."); empty when no live server reads it there.
         */
        List<String> readersOf(ContentId id, String backend) throws IOException;
    }

    /**
     * What to reclaim; {@code dryRun} changes nothing; {@code keptCopies} also deletes copies kept by
     * {@code catalog move --keep-source} (on the same terms as spare copies).
     */
    public record Request(boolean dryRun, boolean orphans, boolean keptCopies) {
        public Request(boolean dryRun, boolean orphans) {
            this(dryRun, orphans, false);
        }
    }

    /**
     * One vdisk copy and what gc does (or, in a dry run, would do) with it.
     *
     * @param apps    the app versions that name the vdisk (for a spare copy: on {@code namedOn})
     * @param bytes   what deleting it reclaims (0 when only rows are dropped)
     * @param heldBy  kept generations and live mounts that read a retired vdisk
     * @param readers why a spare copy is kept (servers that read it there, a twin that is missing)
     * @param namedOn for a spare copy, the backends the catalog names for the vdisk; null for the others
     */
    public record Item(String contentId, String backend, List<String> apps, long bytes, String action,
                       List<VdiskReferences.Holder> heldBy, List<String> readers,
                       @JsonInclude(JsonInclude.Include.NON_NULL) List<String> namedOn) {
        public Item {
            apps = List.copyOf(apps);
            heldBy = List.copyOf(heldBy);
            readers = List.copyOf(readers);
            namedOn = namedOn == null ? null : List.copyOf(namedOn);
        }

        public ContentId id() {
            return new ContentId(contentId);
        }

        /** True when gc deletes (or would delete) the object. */
        public boolean deletes() {
            return action.equals(DELETE) || action.equals(DELETE_ORPHAN) || action.equals(DELETE_SPARE);
        }
    }

    /** What a run did (or would do): every copy looked at, in order, and the bytes reclaimed. */
    public record Result(boolean dryRun, long reclaimedBytes, List<Item> items) {
        public Result {
            items = List.copyOf(items);
        }

        public long deletedCount() {
            return items.stream().filter(Item::deletes).count();
        }
    }

    private final DcdEnvironment env;
    private final ReferenceSource references;
    private final LiveReaders readers;

    public GcService(DcdEnvironment env, ReferenceSource references, LiveReaders readers) {
        this.env = Objects.requireNonNull(env);
        this.references = Objects.requireNonNull(references);
        this.readers = Objects.requireNonNull(readers);
    }

    public Result collect(Request request) throws IOException {
        Catalog catalog = env.catalog();
        // A real run decides and deletes in one write session (docs/catalog.md, "Sharing the catalog"); a dry run
        // only reads, so it also works on a full disk.
        Catalog.Write<Result> work = () -> run(catalog, request);
        return request.dryRun() ? work.run() : catalog.write(work);
    }

    private Result run(Catalog catalog, Request request) throws IOException {
        VdiskReferences refs = references.compute();
        List<Item> items = new ArrayList<>();
        List<AppVersion> toForget = new ArrayList<>();
        planRetired(catalog, refs, items, toForget);
        Set<String> listed = new LinkedHashSet<>();
        Set<String> seen = new LinkedHashSet<>();
        for (BackendEntry entry : catalog.backends()) {
            List<Backend.ObjectStat> objects;
            try {
                objects = env.backend(entry.name()).list();
            } catch (IOException e) {
                env.warn("cannot list backend " + entry.name() + ": " + e.getMessage()
                        + "; vdisks the catalog does not know, and spare copies, are not looked for there");
                continue;
            }
            listed.add(entry.name());
            for (Backend.ObjectStat o : objects) {
                seen.add(o.id().hex() + "/" + entry.name());
                List<AppVersion> users = catalog.usersOf(o.id());
                if (users.isEmpty()) {
                    if (!refs.isReferenced(o.id())) {
                        items.add(new Item(o.id().hex(), entry.name(), List.of(), o.size(),
                                request.orphans() ? DELETE_ORPHAN : ORPHAN, List.of(), List.of(), null));
                    }
                } else if (users.stream().noneMatch(u -> u.backend().equals(entry.name()))) {
                    boolean kept = catalog.keptCopies(o.id()).stream().anyMatch(k -> k.backend().equals(entry.name()));
                    if (kept && !request.keptCopies() && !toForget.containsAll(users)) {
                        items.add(new Item(o.id().hex(), entry.name(), labels(users), o.size(), KEPT_COPY, List.of(),
                                List.of(), namedOn(users)));
                    } else {
                        items.add(spare(o, entry.name(), users));
                    }
                }
            }
        }
        long reclaimed = items.stream().filter(Item::deletes).mapToLong(Item::bytes).sum();
        if (!request.dryRun()) {
            // Catalog rows first, then the objects: a failure in between leaves an orphan that gc --orphans or
            // rescan can deal with, never a row pointing at nothing that a generation needs.
            for (AppVersion r : toForget) {
                catalog.forgetRetired(r);
            }
            for (Item item : items) {
                if (item.deletes()) {
                    env.backend(item.backend()).delete(item.id());
                    catalog.forgetKept(item.id(), item.backend());
                }
            }
            // A kept copy that is gone from a backend listed whole (deleted by hand, or the app moved back onto it
            // before this record existed) is no longer anything to keep.
            for (KeptCopy k : catalog.keptCopies()) {
                if (listed.contains(k.backend()) && !seen.contains(k.contentId() + "/" + k.backend())) {
                    catalog.forgetKept(k.id(), k.backend());
                }
            }
        }
        return new Result(request.dryRun(), reclaimed, items);
    }

    /**
     * Retired versions by vdisk: the object goes only when every version that still names it is retired and
     * unreferenced; with a live sharer the retired rows go and the object stays.
     */
    private static void planRetired(Catalog catalog, VdiskReferences refs, List<Item> items, List<AppVersion> toForget)
            throws IOException {
        Map<ContentId, List<AppVersion>> retiredById = new LinkedHashMap<>();
        for (AppVersion r : catalog.retired()) {
            retiredById.computeIfAbsent(r.id(), k -> new ArrayList<>()).add(r);
        }
        for (Map.Entry<ContentId, List<AppVersion>> e : retiredById.entrySet()) {
            ContentId id = e.getKey();
            List<AppVersion> versions = e.getValue();
            List<String> labels = versions.stream().map(AppVersion::label).toList();
            AppVersion first = versions.get(0);
            if (refs.isReferenced(id)) {
                items.add(new Item(id.hex(), first.backend(), labels, first.vdiskBytes(), KEPT, refs.holdersOf(id),
                        List.of(), null));
                continue;
            }
            toForget.addAll(versions);
            boolean liveSharer = catalog.usersOf(id).size() > versions.size();
            items.add(new Item(id.hex(), first.backend(), labels, liveSharer ? 0 : first.vdiskBytes(),
                    liveSharer ? FORGET_SHARED : DELETE, List.of(), List.of(), null));
        }
    }

    /**
     * A copy on {@code backend} of a vdisk the catalog names elsewhere: deleted only when the copy the catalog names
     * is there, whole in size, and no live server reads this one.
     */
    private Item spare(Backend.ObjectStat copy, String backend, List<AppVersion> users) throws IOException {
        List<String> named = namedOn(users);
        List<String> why = new ArrayList<>();
        for (String other : named) {
            twinMissing(copy, other).ifPresent(why::add);
        }
        why.addAll(readers.readersOf(copy.id(), backend));
        return new Item(copy.id().hex(), backend, labels(users), copy.size(), why.isEmpty() ? DELETE_SPARE : SPARE,
                List.of(), why, named);
    }

    private static List<String> labels(List<AppVersion> users) {
        return users.stream().map(AppVersion::label).distinct().toList();
    }

    /** The backends the catalog names for a vdisk, in order. */
    private static List<String> namedOn(List<AppVersion> users) {
        return users.stream().map(AppVersion::backend).distinct().toList();
    }

    /** Why the copy the catalog names on {@code other} cannot be counted on, or empty when it is there. */
    private Optional<String> twinMissing(Backend.ObjectStat copy, String other) {
        try {
            Optional<Backend.ObjectStat> twin = env.backend(other).stat(copy.id());
            if (twin.isEmpty()) {
                return Optional.of("the catalog names it on " + other + ", where it is missing, so this may be the only"
                        + " copy");
            }
            if (twin.get().size() != copy.size()) {
                return Optional.of("the copy the catalog names on " + other + " holds " + twin.get().size()
                        + " bytes, not " + copy.size());
            }
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.of("the copy the catalog names on " + other + " cannot be checked ("
                    + dev.dcd.shell.ErrorLine.of(e) + ")");
        }
    }
}
