package dev.dcd.tests.mount;

import java.io.IOException;
import java.nio.file.Path;

/** The mount tests' disk builder and tool runner, opened up for the benchmarks package. */
public final class BenchSupport {
    public static final long PARTITION_OFFSET = TestDisk.PARTITION_OFFSET;

    public record Built(Path image, Path index, Path descriptor, long partitionLength) {
    }

    private BenchSupport() {
    }

    public static Built build(Path tree, Path dir, long diskSize) throws IOException {
        TestDisk d = TestDisk.build(tree, dir, diskSize);
        return new Built(d.image, d.index, d.descriptor, d.partitionLength);
    }

    public static String ok(String... command) {
        return Tools.ok(command);
    }

    public static void quietly(String... command) {
        Tools.quietly(command);
    }
}
