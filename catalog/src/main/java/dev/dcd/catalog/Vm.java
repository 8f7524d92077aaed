package dev.dcd.catalog;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A VM as the catalog records it. Immutable; the {@code with*} methods return changed copies that the caller
 * hands back to {@link Catalog#putVm}.
 *
 * @param fsType             {@code ext4} or {@code fat32}
 * @param createdAt          epoch seconds; becomes the filesystem creation time, so rebuilds are reproducible
 * @param apps               assigned apps in assignment order
 * @param currentGeneration  0 until the first build
 * @param symlinks           what a FAT32 disk does with symlinks, which FAT cannot hold: {@code skip} (with a
 *                           warning) or {@code copy} (the target's content); null in older records means skip
 */
public record Vm(String name, String fsType, long sizeBytes, long createdAt, List<Assignment> apps,
                 int currentGeneration, List<Generation> generations, String symlinks) {
    public static final String SYMLINKS_SKIP = "skip";
    public static final String SYMLINKS_COPY = "copy";

    public Vm {
        apps = List.copyOf(apps);
        generations = List.copyOf(generations);
        symlinks = symlinks == null ? SYMLINKS_SKIP : symlinks;
        if (!symlinks.equals(SYMLINKS_SKIP) && !symlinks.equals(SYMLINKS_COPY)) {
            throw new IllegalArgumentException("unknown symlink policy '" + symlinks + "' (expected skip or copy)");
        }
    }

    /** An app pinned to one version, with the priority that settles path conflicts (higher wins). */
    public record Assignment(String app, String version, int priority) {
        public String label() {
            return app + "@" + version;
        }
    }

    /**
     * A built disk generation.
     *
     * @param builtAt        epoch milliseconds
     * @param allocatedBytes bytes the thin metadata image occupies on the host
     */
    public record Generation(int number, long builtAt, long fileCount, long appBytes, long virtualSize,
                             long allocatedBytes, long partitionOffset, long partitionLength) {
    }

    public Optional<Assignment> assignment(String app) {
        return apps.stream().filter(a -> a.app().equals(app)).findFirst();
    }

    public Optional<Generation> generation(int number) {
        return generations.stream().filter(g -> g.number() == number).findFirst();
    }

    public Optional<Generation> current() {
        return generation(currentGeneration);
    }

    public int nextGenerationNumber() {
        return generations.stream().mapToInt(Generation::number).max().orElse(0) + 1;
    }

    /** Assigns (or re-pins) an app; an app keeps its place in the order when it is assigned again. */
    public Vm withAssignment(Assignment assignment) {
        List<Assignment> list = new ArrayList<>();
        boolean replaced = false;
        for (Assignment a : apps) {
            if (a.app().equals(assignment.app())) {
                list.add(assignment);
                replaced = true;
            } else {
                list.add(a);
            }
        }
        if (!replaced) {
            list.add(assignment);
        }
        return new Vm(name, fsType, sizeBytes, createdAt, list, currentGeneration, generations, symlinks);
    }

    public Vm withoutAssignment(String app) {
        List<Assignment> list = new ArrayList<>(apps);
        list.removeIf(a -> a.app().equals(app));
        return new Vm(name, fsType, sizeBytes, createdAt, list, currentGeneration, generations, symlinks);
    }

    public Vm withGeneration(Generation generation) {
        List<Generation> list = new ArrayList<>(generations);
        list.add(generation);
        return new Vm(name, fsType, sizeBytes, createdAt, apps, generation.number(), list, symlinks);
    }

    public Vm withoutGeneration(int number) {
        List<Generation> list = new ArrayList<>(generations);
        list.removeIf(g -> g.number() == number);
        return new Vm(name, fsType, sizeBytes, createdAt, apps, number == currentGeneration ? 0 : currentGeneration, list, symlinks);
    }
}
