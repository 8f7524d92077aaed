package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.filter.OverlayWrites;
import dev.dcd.mount.GenerationLock;
import dev.dcd.mount.MountService;
import dev.dcd.synth.FsType;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.fat32.Fat32Synthesizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * VMs and their disk generations: create, assign apps, list and show, and the generations a build leaves
 * (list, stat, discard). Every change reads, checks and stores in one catalog write session, so a change
 * another process commits meanwhile is neither lost nor overwritten.
 */
public final class VmService {
    /** The smallest disk a synthesizer accepts (DiskSpec's rule). */
    public static final long MIN_SIZE = 16L << 20;
    private static final long SIZE_ALIGNMENT = 4096;

    private final DcdEnvironment env;

    public VmService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /**
     * Creates a VM.
     *
     * @param fs       {@code ext4} or {@code fat32}
     * @param size     the virtual disk size as the user wrote it, like {@code 8G} or {@code 512M}
     * @param symlinks FAT32 only: {@link Vm#SYMLINKS_SKIP} or {@link Vm#SYMLINKS_COPY}; null for the default (skip)
     */
    public Vm create(String name, String fs, String size, String symlinks) throws IOException {
        FsType type = FsType.parse(fs);
        long bytes = Sizes.parse(size);
        if (bytes < MIN_SIZE || bytes % SIZE_ALIGNMENT != 0) {
            throw new IllegalArgumentException("disk size must be a multiple of 4 KiB and at least 16M, got " + size);
        }
        if (type == FsType.FAT32 && bytes < Fat32Synthesizer.MIN_DISK_SIZE) {
            long min = Fat32Synthesizer.MIN_DISK_SIZE;
            throw new IllegalArgumentException("a fat32 disk must be at least " + ((min + (1 << 20) - 1) >> 20)
                    + "M (" + min + " bytes: FAT32 needs 65525 clusters), got " + size
                    + "; choose a larger --size or ext4");
        }
        if (symlinks != null && type != FsType.FAT32) {
            throw new IllegalArgumentException("--symlinks applies to fat32 disks only; ext4 keeps symlinks as they are");
        }
        String policy = symlinks == null ? Vm.SYMLINKS_SKIP : symlinks;
        if (!policy.equals(Vm.SYMLINKS_SKIP) && !policy.equals(Vm.SYMLINKS_COPY)) {
            throw new IllegalArgumentException("unknown --symlinks '" + policy + "' (expected skip or copy)");
        }
        return env.catalog().createVm(name, type.id(), bytes, policy);
    }

    /**
     * Assigns apps ({@code APP} pins the newest version, {@code APP@VER} that one); returns the assignments made,
     * in the order asked. Nothing changes when one of them cannot be resolved.
     */
    public List<Vm.Assignment> assign(String vmName, List<String> specs, int priority) throws IOException {
        Catalog catalog = env.catalog();
        return catalog.write(() -> {
            Vm changed = catalog.requireVm(vmName);
            List<String> names = new ArrayList<>();
            for (String spec : specs) {
                AppVersion app = catalog.resolve(spec);
                if (names.contains(app.name())) {
                    throw new CatalogException("app '" + app.name() + "' is named twice");
                }
                names.add(app.name());
                changed = changed.withAssignment(new Vm.Assignment(app.name(), app.version(), priority));
            }
            catalog.putVm(changed);
            List<Vm.Assignment> made = new ArrayList<>();
            for (String name : names) {
                made.add(changed.assignment(name).orElseThrow());
            }
            return made;
        });
    }

    /** Takes apps ({@code APP} or {@code APP@VER}; the version is ignored) off a VM; all or none. */
    public Vm unassign(String vmName, List<String> specs) throws IOException {
        Catalog catalog = env.catalog();
        return catalog.write(() -> {
            Vm vm = catalog.requireVm(vmName);
            for (String spec : specs) {
                String name = spec.contains("@") ? spec.substring(0, spec.indexOf('@')) : spec;
                if (vm.assignment(name).isEmpty()) {
                    throw new CatalogException("app '" + name + "' is not assigned to VM '" + vmName + "'");
                }
                vm = vm.withoutAssignment(name);
            }
            catalog.putVm(vm);
            return vm;
        });
    }

    public List<Vm> list() throws IOException {
        return env.catalog().vms();
    }

    public Vm require(String vmName) throws IOException {
        return env.catalog().requireVm(vmName);
    }

    /** The VM and each assigned app as the catalog has it now. */
    public Views.VmDetail show(String vmName) throws IOException {
        Catalog catalog = env.catalog();
        Vm vm = catalog.requireVm(vmName);
        List<Views.AssignedApp> apps = new ArrayList<>();
        for (Vm.Assignment a : vm.apps()) {
            apps.add(new Views.AssignedApp(a, catalog.app(a.app(), a.version())));
        }
        return new Views.VmDetail(vm, apps);
    }

    /** The VM's generations, oldest first, each with whether it is current and whether it holds guest writes. */
    public List<Views.GenerationRow> generations(String vmName) throws IOException {
        Vm vm = env.catalog().requireVm(vmName);
        List<Views.GenerationRow> rows = new ArrayList<>();
        for (Vm.Generation g : vm.generations()) {
            rows.add(new Views.GenerationRow(g, g.number() == vm.currentGeneration(),
                    DynamicContentDisk.hasWrites(env.generationDir(vmName, g.number()))));
        }
        return rows;
    }

    /** Sizes and region counts of generation {@code number}, or of the current one when it is null. */
    public Views.DiskStat stat(String vmName, Integer number) throws IOException {
        Vm vm = env.catalog().requireVm(vmName);
        Vm.Generation g = generation(vm, number);
        Path dir = env.generationDir(vmName, g.number());
        RegionMap map = RegionMap.load(dir.resolve(SynthesizedDisk.REGIONS));
        Map<String, Views.RegionStat> regions = new LinkedHashMap<>();
        for (RegionMap.Kind kind : RegionMap.Kind.values()) {
            regions.put(kind.name().toLowerCase(java.util.Locale.ROOT), new Views.RegionStat(map.countOf(kind), map.bytesOf(kind)));
        }
        return new Views.DiskStat(vmName, g.number(), map.size(), SynthesizedDisk.allocatedBytes(dir.resolve(SynthesizedDisk.IMAGE)),
                map.bytesOf(RegionMap.Kind.APP_DATA), g.fileCount(), map.vdisks().size(), regions);
    }

    /**
     * Deletes a generation. The current one, and one holding guest writes (which are lost with it), only with
     * {@code force}; never one of a mounted VM.
     */
    public Views.Discarded discard(String vmName, int number, boolean force) throws IOException {
        Catalog catalog = env.catalog();
        // Checks, catalog change and delete in one write session: no build can take the number meanwhile.
        // On a full disk the session uses the catalog's space reserve (docs/catalog.md).
        long written = catalog.write(() -> {
            Vm vm = catalog.requireVm(vmName);
            Vm.Generation gen = generation(vm, number);
            Path mountpoint = MountService.liveMounts(env.home()).get(vmName);
            if (mountpoint != null) {
                throw new CatalogException("VM '" + vmName + "' is mounted at " + mountpoint + "; 'dcd umount "
                        + mountpoint + "' before discarding a generation");
            }
            long bytes = guestWriteBytes(vm, gen);
            if (bytes > 0 && !force) {
                throw new CatalogException("generation " + number + " of VM '" + vmName + "' holds " + Sizes.format(bytes)
                        + " of guest writes, which discarding deletes for good; save them with 'dcd disk export " + vmName
                        + " FILE --generation " + number + "', or pass --force to discard them");
            }
            if (number == vm.currentGeneration() && !force) {
                throw new CatalogException("generation " + number + " is the current disk of VM '" + vmName
                        + "'; pass --force to discard it anyway");
            }
            Path dir = env.generationDir(vmName, number);
            // An NBD export holds the generation as a mount does; held here, nothing can start serving it meanwhile.
            try (GenerationLock held = Files.isDirectory(dir)
                    ? GenerationLock.acquire(dir, "generation " + number + " of VM '" + vmName + "'") : null) {
                catalog.putVm(vm.withoutGeneration(number));
                FileTrees.deleteTree(dir);
            }
            return bytes;
        });
        return new Views.Discarded(vmName, number, written, !catalog.retired().isEmpty());
    }

    /** Removes a VM and its generations; one holding guest writes only with {@code force}, a mounted one never. */
    public void remove(String vmName, boolean force) throws IOException {
        Catalog catalog = env.catalog();
        // One write session: no build of this VM can commit between the checks, the removal and the delete.
        catalog.write(() -> {
            Vm vm = catalog.requireVm(vmName);
            Path mountpoint = MountService.liveMounts(env.home()).get(vmName);
            if (mountpoint != null) {
                throw new CatalogException("VM '" + vmName + "' is mounted at " + mountpoint + "; 'dcd umount " + mountpoint
                        + "' first");
            }
            if (!force) {
                List<String> held = new ArrayList<>();
                for (Vm.Generation g : vm.generations()) {
                    long bytes = guestWriteBytes(vm, g);
                    if (bytes > 0) {
                        held.add("generation " + g.number() + " (" + Sizes.format(bytes) + ")");
                    }
                }
                if (!held.isEmpty()) {
                    throw new CatalogException("VM '" + vmName + "' holds guest writes in " + String.join(", ", held)
                            + ", which removing it deletes for good; save them with 'dcd disk export " + vmName
                            + " FILE --generation N', or pass --force to remove it anyway");
                }
            }
            catalog.removeVm(vmName);
            FileTrees.deleteTree(env.vmDir(vmName));
            return null;
        });
    }

    /** The VM's generation {@code requested}, or its current one when {@code requested} is null. */
    public static Vm.Generation generation(Vm vm, Integer requested) throws CatalogException {
        if (requested != null) {
            return vm.generation(requested).orElseThrow(() -> new CatalogException("VM '" + vm.name()
                    + "' has no generation " + requested + " (see 'dcd disk generations " + vm.name() + "')"));
        }
        return vm.current().orElseThrow(() -> new CatalogException("VM '" + vm.name()
                + "' has no disk yet; run 'dcd disk build " + vm.name() + "'"));
    }

    /**
     * Bytes of guest writes a generation holds (what its last flush made durable); an overlay that cannot be read
     * stops the caller rather than counting as empty.
     */
    public long guestWriteBytes(Vm vm, Vm.Generation g) throws IOException {
        Path dir = env.generationDir(vm.name(), g.number());
        try {
            return OverlayWrites.read(dir, g.virtualSize()).bytes();
        } catch (IOException e) {
            throw new CatalogException("cannot tell whether generation " + g.number() + " of VM '" + vm.name()
                    + "' holds guest writes: " + e.getMessage() + "; pass --force to discard it anyway");
        }
    }
}
