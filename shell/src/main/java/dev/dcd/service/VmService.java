package dev.dcd.service;

import dev.dcd.catalog.CatalogException;
import dev.dcd.catalog.Vm;
import dev.dcd.filter.OverlayWrites;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/** A VM's disk generations: which one a request means, and what each holds. */
public final class VmService {
    private final DcdEnvironment env;

    public VmService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
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
