package dev.dcd.service;

import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.DynamicContentDisk;
import dev.dcd.mount.MountService;
import dev.dcd.synth.AppLayer;
import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.FsType;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.synth.Synthesizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds a VM's next disk generation: merges its apps' manifests, synthesizes the filesystem in a directory of
 * its own under the VM, and only then numbers it and records it in the catalog as current. A build that fails
 * leaves no trace; one that died earlier (its process gone) is swept away by the next build of the VM.
 */
public final class BuildService {
    /** A synthesis directory: {@code gen-next.PID.NANOS.tmp}, or {@code gen-N.tmp} of dcd versions that named them by number. */
    private static final Pattern ABANDONED_BUILD = Pattern.compile("gen-(?:next\\.(\\d+)\\.\\d+|\\d+)\\.tmp");

    private final DcdEnvironment env;

    public BuildService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /**
     * What a build made, and what the user should know about the disk it replaced.
     *
     * @param generation          the new generation, now current
     * @param previous            the generation that was current before, or 0
     * @param previousHoldsWrites true when {@code previous} holds guest writes (it is kept, with its overlay)
     * @param mounts              live mounts of this VM: they keep serving what they served
     */
    public record Built(Vm.Generation generation, int previous, boolean previousHoldsWrites,
                        List<MountService.LiveMount> mounts) {
        public Built {
            mounts = List.copyOf(mounts);
        }
    }

    /** Builds the next generation of {@code vmName}; returns once the catalog records it as current. */
    public Built build(String vmName, ProgressSink progress) throws IOException {
        Catalog catalog = env.catalog();
        Vm vm = catalog.requireVm(vmName);
        Vm.Generation generation = synthesize(vm, progress);
        int previous = vm.currentGeneration();
        List<MountService.LiveMount> mounts = new ArrayList<>();
        for (MountService.LiveMount m : MountService.liveMountGenerations(env.home())) {
            if (m.vm().equals(vmName)) {
                mounts.add(m);
            }
        }
        boolean previousHoldsWrites = previous > 0 && DynamicContentDisk.hasWrites(env.generationDir(vmName, previous));
        return new Built(generation, previous, previousHoldsWrites, mounts);
    }

    private Vm.Generation synthesize(Vm vm, ProgressSink progress) throws IOException {
        Catalog catalog = env.catalog();
        String vmName = vm.name();
        List<AppLayer> layers = AppLayers.of(env, vm);
        FsType type = FsType.parse(vm.fsType());
        DiskSpec spec = DiskSpec.builder().vmId(vm.name()).fsType(type).diskSize(vm.sizeBytes())
                .createdEpochSeconds(vm.createdAt())
                .symlinkPolicy(Vm.SYMLINKS_COPY.equals(vm.symlinks()) ? DiskSpec.SymlinkPolicy.COPY_TARGET : DiskSpec.SymlinkPolicy.SKIP)
                .build();
        Path vmDir = env.vmDir(vmName);
        sweepAbandonedBuilds(vmDir);
        // The number is only chosen when the catalog records the generation, under the write lock, so two
        // builds of one VM side by side each get their own: the synthesis works in a directory of its own.
        Path tmp = vmDir.resolve("gen-next." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".tmp");
        Files.createDirectories(tmp);
        try {
            SynthesizedDisk disk;
            try (ProgressSink.Task task = progress.start("build", vm.sizeBytes())) {
                disk = Synthesizers.forType(type).synthesize(spec, layers, tmp, task);
            }
            for (String warning : disk.warnings()) {
                env.warn(warning);
            }
            return catalog.write(() -> {
                Vm fresh = catalog.requireVm(vmName);
                int number = fresh.nextGenerationNumber();
                Path done = env.generationDir(vmName, number);
                // A leftover from a build that died before the catalog recorded it; never a recorded generation.
                FileTrees.deleteTree(done);
                // The synthesizer returns with its files on stable storage; the rename reaches it too before the
                // catalog records the generation below, so no crash leaves a recorded generation half there.
                Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
                FileTrees.force(vmDir);
                Vm.Generation generation = new Vm.Generation(number, env.clock().millis(), disk.fileCount(),
                        disk.appBytes(), disk.virtualSize(), SynthesizedDisk.allocatedBytes(done.resolve(SynthesizedDisk.IMAGE)),
                        disk.partitionOffset(), disk.partitionLength());
                try {
                    catalog.putVm(fresh.withGeneration(generation));
                } catch (IOException | RuntimeException e) {
                    FileTrees.deleteTree(done);
                    throw e;
                }
                return generation;
            });
        } catch (IOException | RuntimeException e) {
            FileTrees.deleteTree(tmp);
            // A failed first build leaves no trace, not even the VM's directory.
            FileTrees.deleteIfEmpty(vmDir);
            throw e;
        }
    }

    /** Removes synthesis directories whose build process is gone. */
    private static void sweepAbandonedBuilds(Path vmDir) {
        if (!Files.isDirectory(vmDir)) {
            return;
        }
        try (var entries = Files.list(vmDir)) {
            for (Path entry : entries.toList()) {
                Matcher m = ABANDONED_BUILD.matcher(entry.getFileName().toString());
                if (!m.matches()) {
                    continue;
                }
                boolean alive = m.group(1) != null && ProcessHandle.of(Long.parseLong(m.group(1)))
                        .map(ProcessHandle::isAlive).orElse(false);
                if (!alive) {
                    FileTrees.deleteTree(entry);
                }
            }
        } catch (IOException | NumberFormatException e) {
            // best effort: a leftover costs space, not correctness
        }
    }
}
