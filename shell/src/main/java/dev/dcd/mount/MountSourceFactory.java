package dev.dcd.mount;

import java.io.IOException;

/** Opens the {@link MountSource} of a VM by name; the one seam between the catalog and the mount. */
@FunctionalInterface
public interface MountSourceFactory {

    /**
     * @throws IOException with a one-line message naming the VM if it does not exist or has no built disk
     */
    MountSource open(String vm) throws IOException;
}
