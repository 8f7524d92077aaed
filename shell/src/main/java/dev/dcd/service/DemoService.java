package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.Vm;
import dev.dcd.mount.MountService;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Walks through dcd with the sample apps, calling the same services the commands call: packs one sample as
 * .tar.gz and one as .zip, imports those and the third as a plain directory, creates VM {@code demo}, assigns
 * the apps, builds its disk when there is none or the apps changed, mounts it and shows it (the file tree and
 * e2fsck's verdict on the raw disk, both read through the mount). Safe to run again: apps already imported are
 * skipped, the VM is reused, an up-to-date disk is not rebuilt and a live mount is kept.
 */
public final class DemoService {
    public static final String VM = "demo";
    /** Each sample is imported through a different path, so the demo exercises three readers. */
    private static final String[] PACKING = {"tar.gz", "zip", "dir"};
    /** A directory of dcd scripts among the samples, not an app. */
    private static final String SCRIPTS = "scripts";

    /** What the demo tells as it goes; the CLI renders the typed steps as the matching commands would. */
    public interface Narrator {
        /** A line of the walkthrough; an empty one separates sections. */
        void say(String line);

        void created(Vm vm);

        void assigned(String vm, List<Vm.Assignment> made, int priority);

        void catalog(List<AppVersion> apps);

        void vm(Views.VmDetail detail);

        void built(String vm, BuildService.Built built);

        void stat(Views.DiskStat stat);

        /** What an external tool printed, as it printed it. */
        void toolOutput(String text);
    }

    /** Mounting, which lives in its own serving process; absent on machines without FUSE. */
    public interface Mounts {
        void mount(String vm, Path mountpoint) throws IOException;

        void umount(Path mountpoint) throws IOException;
    }

    /**
     * @param samples one directory per sample app, named {@code NAME-VERSION}
     * @param size    the demo VM's disk size, like {@code 1G}
     * @param mount   false to stop after building the disk (for machines without FUSE)
     */
    public record Options(Path samples, String size, boolean mount) {
        public Options {
            Objects.requireNonNull(samples, "samples");
            Objects.requireNonNull(size, "size");
        }
    }

    private final DcdEnvironment env;
    private final Mounts mounts;
    private final Narrator narrator;

    /** @param mounts how to mount and unmount the demo VM */
    public DemoService(DcdEnvironment env, Mounts mounts, Narrator narrator) {
        this.env = Objects.requireNonNull(env, "env");
        this.mounts = Objects.requireNonNull(mounts, "mounts");
        this.narrator = Objects.requireNonNull(narrator, "narrator");
    }

    public void run(Options options) throws IOException {
        Path dir = options.samples();
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("sample directory " + dir.toAbsolutePath() + " does not exist (pass --samples DIR)");
        }
        List<Path> samples;
        try (Stream<Path> list = Files.list(dir)) {
            samples = list.filter(Files::isDirectory).filter(d -> !d.getFileName().toString().equals(SCRIPTS)).sorted().toList();
        }
        if (samples.isEmpty()) {
            throw new IllegalArgumentException("no sample apps in " + dir.toAbsolutePath());
        }
        Catalog catalog = env.catalog();
        narrator.say("== dcd demo in " + env.home());
        List<AppVersion> imported = importSamples(samples);
        VmService vms = new VmService(env);
        Vm vm = catalog.vm(VM).orElse(null);
        if (vm == null) {
            vm = vms.create(VM, "ext4", options.size(), null);
            narrator.created(vm);
        } else {
            narrator.say("VM " + VM + " exists, reusing it");
        }
        List<String> toAssign = new ArrayList<>();
        for (AppVersion app : imported) {
            if (vm.assignment(app.name()).map(a -> a.version().equals(app.version())).orElse(false)) {
                narrator.say(app.label() + " is already assigned to " + VM);
            } else {
                toAssign.add(app.label());
            }
        }
        if (!toAssign.isEmpty()) {
            narrator.assigned(VM, vms.assign(VM, toAssign, 0), 0);
        }
        narrator.say("");
        narrator.say("== catalog");
        narrator.catalog(catalog.apps());
        narrator.say("");
        narrator.say("== VM " + VM);
        narrator.vm(vms.show(VM));
        Path mounted = disk(vms, !toAssign.isEmpty());
        if (options.mount()) {
            show(mounted);
        }
    }

    private List<AppVersion> importSamples(List<Path> samples) throws IOException {
        Path work = env.tmpDir().resolve("demo");
        Files.createDirectories(work);
        List<AppVersion> imported = new ArrayList<>();
        try {
            for (int i = 0; i < samples.size(); i++) {
                imported.add(importSample(samples.get(i), PACKING[i % PACKING.length], work));
            }
        } finally {
            FileTrees.deleteTree(work);
        }
        return imported;
    }

    private AppVersion importSample(Path sample, String packing, Path work) throws IOException {
        ImportService imports = new ImportService(env);
        String base = sample.getFileName().toString();
        var existing = imports.alreadyImported(base);
        if (existing.isPresent()) {
            narrator.say(existing.get().label() + " is already imported, skipping");
            return existing.get();
        }
        Path source = switch (packing) {
            case "tar.gz" -> SampleArchives.packTarGz(sample, work.resolve(base + ".tar.gz"));
            case "zip" -> SampleArchives.packZip(sample, work.resolve(base + ".zip"));
            default -> sample;
        };
        AppVersion app = imports.importSource(ImportRequest.builder(source).build(), ProgressSink.NONE).app();
        narrator.say("imported " + app.label() + " from a " + (packing.equals("dir") ? "directory" : "." + packing)
                + ": " + app.fileCount() + " files");
        return app;
    }

    /** Builds the disk when there is none or the apps changed; returns where the VM is mounted, or null. */
    private Path disk(VmService vms, boolean appsChanged) throws IOException {
        Vm vm = vms.require(VM);
        Path mounted = MountService.liveMounts(env.home()).get(VM);
        narrator.say("");
        narrator.say("== disk");
        if (vm.currentGeneration() == 0 || appsChanged) {
            if (mounted != null) {
                // The mount serves the old generation until it is remounted.
                mounts.umount(mounted);
                mounted = null;
            }
            narrator.built(VM, new BuildService(env).build(VM, ProgressSink.NONE));
        } else {
            narrator.say("generation " + vm.currentGeneration() + " is up to date");
        }
        narrator.stat(vms.stat(VM, null));
        return mounted;
    }

    /** Mounts the disk under {@code $DCD_HOME/mnt/demo} unless it is mounted, and shows it through the mount. */
    private void show(Path mounted) throws IOException {
        long offset = new VmService(env).require(VM).current().map(Vm.Generation::partitionOffset).orElse(1L << 20);
        narrator.say("");
        narrator.say("== mount");
        if (mounted == null) {
            Path mountpoint = env.home().resolve("mnt").resolve(VM);
            Files.createDirectories(mountpoint);
            mounts.mount(VM, mountpoint);
            mounted = mountpoint;
        } else {
            narrator.say(VM + " is already mounted at " + mounted);
        }
        narrator.say("");
        narrator.say("== ls -la " + mounted.resolve("files"));
        tool(List.of("ls", "-la", "--color=never", mounted.resolve("files").toString()));
        narrator.say("");
        Path image = mounted.resolve("disk.img");
        narrator.say("== e2fsck -fn " + image + " (the partition at byte " + offset + ")");
        int fsck = tool(List.of("e2fsck", "-fn", image + "?offset=" + offset));
        if (fsck != 0) {
            throw new IOException("e2fsck found problems in " + image + " (exit " + fsck + ")");
        }
        narrator.say("");
        narrator.say("The disk stays mounted: attach " + image + " to a VM or a loop device, browse "
                + mounted.resolve("files") + ", and run 'dcd umount " + mounted + "' when done.");
    }

    /** Runs a tool and hands what it prints to the narrator; returns its exit code. */
    private int tool(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String text = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        narrator.toolOutput(text);
        try {
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while running " + command.get(0));
        }
    }
}
