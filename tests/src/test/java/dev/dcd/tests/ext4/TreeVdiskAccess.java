package dev.dcd.tests.ext4;

import dev.dcd.vdisk.SealedVdisk;

import java.io.IOException;
import java.nio.file.Path;

/** Lets the benchmark reuse the suite's tree importer without widening it. */
public final class TreeVdiskAccess {
    private TreeVdiskAccess() {
    }

    public static SealedVdisk write(Path tree, Path vdisk, String name) throws IOException {
        return TreeVdisk.write(tree, vdisk, name, "deb");
    }
}
