package dev.dcd.mount;

import java.io.IOException;

/** Opens the {@link MountSource} of a VM by name; the one seam between the catalog and the mount. */
@FunctionalInterface
public interface MountSourceFactory {

    /**
     * @throws IOException with a one-line message naming the VM if it does not exist or has no built disk
     */
    MountSource open(String vm) throws IOException;

    /**
     * Opens one disk generation of the VM; 0 means the current one. A factory without generations serves only
     * the current disk.
     *
     * @throws IOException with a one-line message naming the VM and generation if it does not exist
     */
    default MountSource open(String vm, int generation) throws IOException {
        if (generation != 0) {
            throw new IOException("VM " + vm + " has no generation " + generation);
        }
        return open(vm);
    }
}
