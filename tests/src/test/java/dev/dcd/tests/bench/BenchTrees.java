package dev.dcd.tests.bench;

import dev.dcd.vdisk.SealedVdisk;

import java.io.IOException;
import java.nio.file.Path;

/** The benchmark imports trees the same way the conformance suite does. */
final class BenchTrees {
    private BenchTrees() {
    }

    static SealedVdisk vdisk(Path tree, Path vdisk, String name) throws IOException {
        return dev.dcd.tests.ext4.TreeVdiskAccess.write(tree, vdisk, name);
    }
}
