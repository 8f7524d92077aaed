package dev.dcd.catalog;

import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Who reads which vdisk: every kept disk generation of every VM, and every live mount. This is the one place
 * that decides whether a vdisk's bytes may be deleted; {@code catalog rm}, {@code catalog gc} (and any future
 * move or delete) ask it. The invariant it serves: <b>a vdisk is deleted only when no kept generation of any
 * VM and no live mount references it</b>.
 *
 * <p>The catalog does not know which vdisks a generation maps (that is in the generation's region map, a
 * layer above), so the caller hands in a {@link GenerationVdisks} that reads it, and the live mounts it found.
 * A generation whose vdisks cannot be read makes the whole computation fail: not knowing what a generation
 * reads must never look like "it reads nothing".
 */
public final class VdiskReferences {

    /** Reads the content ids one generation of one VM maps; fails with a one-line message when it cannot. */
    @FunctionalInterface
    public interface GenerationVdisks {
        Set<ContentId> of(String vm, int generation) throws IOException;
    }

    /**
     * A serving process: it keeps reading its generation until it ends, whatever the catalog says meanwhile.
     *
     * @param generation the generation it serves
     */
    public record LiveMount(String vm, int generation, String mountpoint) {
    }

    /**
     * One reader of a vdisk.
     *
     * @param mountpoint where it is mounted (an absolute path), or the URI of an NBD server that serves it
     *                   ({@code nbd://}, {@code nbd+unix://}), or null when it is only a kept generation
     */
    public record Holder(String vm, int generation, String mountpoint) {
        public String describe() {
            return "VM " + vm + " generation " + generation + (mountpoint == null ? ""
                    : mountpoint.startsWith("nbd") ? " (served at " + mountpoint + ")" : " (mounted at " + mountpoint + ")");
        }
    }

    /** What removing one app version does to its vdisk. */
    public enum Removal {
        /** No generation reads the vdisk and no other version shares it: remove the rows, delete the object. */
        DELETE_VDISK,
        /** Another app version (live or retired) shares the vdisk: remove the rows, the object stays. */
        SHARED,
        /** A kept generation or live mount reads the vdisk and no live version shares it: retire the version. */
        RETIRE
    }

    private final Map<ContentId, List<Holder>> holders;

    private VdiskReferences(Map<ContentId, List<Holder>> holders) {
        this.holders = holders;
    }

    /**
     * Reads every generation the catalog keeps, plus the generations of {@code mounts} (a live mount of a
     * generation that is no longer kept still counts).
     */
    public static VdiskReferences compute(Catalog catalog, GenerationVdisks reader, List<LiveMount> mounts)
            throws IOException {
        Map<String, String> mountpoints = new LinkedHashMap<>();
        Set<String> seen = new LinkedHashSet<>();
        Map<ContentId, List<Holder>> holders = new LinkedHashMap<>();
        for (LiveMount m : mounts) {
            mountpoints.put(key(m.vm(), m.generation()), m.mountpoint());
        }
        for (Vm vm : catalog.vms()) {
            for (Vm.Generation g : vm.generations()) {
                add(holders, seen, reader, vm.name(), g.number(), mountpoints.get(key(vm.name(), g.number())));
            }
        }
        for (LiveMount m : mounts) {
            add(holders, seen, reader, m.vm(), m.generation(), m.mountpoint());
        }
        holders.replaceAll((id, list) -> List.copyOf(list));
        return new VdiskReferences(Collections.unmodifiableMap(holders));
    }

    private static void add(Map<ContentId, List<Holder>> holders, Set<String> seen, GenerationVdisks reader,
                            String vm, int generation, String mountpoint) throws IOException {
        if (!seen.add(key(vm, generation))) {
            return;
        }
        for (ContentId id : reader.of(vm, generation)) {
            holders.computeIfAbsent(id, k -> new ArrayList<>()).add(new Holder(vm, generation, mountpoint));
        }
    }

    private static String key(String vm, int generation) {
        return vm + "/" + generation;
    }

    /** Kept generations and live mounts that read {@code id}, in catalog order; empty when none. */
    public List<Holder> holdersOf(ContentId id) {
        return holders.getOrDefault(id, List.of());
    }

    public boolean isReferenced(ContentId id) {
        return holders.containsKey(id);
    }

    /** Every vdisk some kept generation or live mount reads. */
    public Set<ContentId> referenced() {
        return holders.keySet();
    }

    /**
     * Decides what {@code catalog rm} does with one version: whether its vdisk may go, must stay because
     * another version shares it, or must stay because a generation reads it (then the version is retired).
     */
    public Removal removalOf(Catalog catalog, AppVersion app) throws IOException {
        boolean shared = false;
        boolean sharedByLive = false;
        for (AppVersion other : catalog.usersOf(app.id())) {
            if (!other.label().equals(app.label())) {
                shared = true;
                sharedByLive |= catalog.app(other.name(), other.version()).filter(other::equals).isPresent();
            }
        }
        if (isReferenced(app.id()) && !sharedByLive) {
            // Only a live version keeps the vdisk in the catalog for good; a retired sharer would too, for now,
            // but one retired row per removed version keeps what gc reports exact.
            return Removal.RETIRE;
        }
        return shared ? Removal.SHARED : Removal.DELETE_VDISK;
    }

    /** "VM vl generation 1 (mounted at /m), VM web generation 3", at most {@code max} named. */
    public static String describe(List<Holder> list, int max) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < Math.min(max, list.size()); i++) {
            parts.add(list.get(i).describe());
        }
        return String.join(", ", parts) + (list.size() > max ? " and " + (list.size() - max) + " more" : "");
    }
}
