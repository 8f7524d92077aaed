package dev.dcd.tests.filter;

import dev.dcd.backend.Backends;
import dev.dcd.filter.DynamicContentDisk;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The writes of the crash test, derived from the round number alone so the parent can recompute what the
 * killed child wrote. Round {@code r} writes only inside its own 4 KiB-aligned area, so rounds never touch
 * each other's blocks.
 */
final class CrashPlan {
    static final int AREA = 256 * 1024;
    static final int WRITES_PER_ROUND = 8;

    record Write(long offset, byte[] data) {
    }

    private CrashPlan() {
    }

    static long areaStart(int round) {
        return (long) round * AREA;
    }

    static List<Write> round(int round) {
        Random random = new Random(round * 7919L + 1);
        List<Write> writes = new ArrayList<>();
        for (int i = 0; i < WRITES_PER_ROUND; i++) {
            int length = 1 + random.nextInt(random.nextBoolean() ? 5000 : 70_000);
            long offset = areaStart(round) + random.nextInt(AREA - length);
            byte[] data = new byte[length];
            random.nextBytes(data);
            writes.add(new Write(offset, data));
        }
        return writes;
    }

    static DynamicContentDisk open(Path generation, Path store) throws IOException {
        var backend = Backends.open("local", URI.create("local://" + store.toAbsolutePath()));
        return DynamicContentDisk.builder().generationDir(generation).resolver(backend::open).vmId("crash").build();
    }
}
