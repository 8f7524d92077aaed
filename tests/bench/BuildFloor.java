import dev.dcd.catalog.Catalog;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;

/**
 * The least a `dcd disk build` command must spend whatever its code does, run under the same JVM, flags and
 * start-up archive as ./dcd (tests/bench/commands.sh compiles and runs it):
 *
 *   BuildFloor jvm                          the JVM starts and exits
 *   BuildFloor rocksdb                      + loads RocksDB's native library (as every command that reads the catalog does)
 *   BuildFloor catalog HOME                 + opens the catalog of HOME to read and reads its backends
 *   BuildFloor commit HOME                  + one write session of that catalog (its lock, a read-write open, close)
 *   BuildFloor durable HOME DIR BYTES       + writes BYTES to a new file in DIR, fsyncs it, renames it and fsyncs DIR:
 *                                             what making a generation durable costs at the least
 */
public final class BuildFloor {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        if (mode.equals("jvm")) {
            return;
        }
        long t0 = System.nanoTime();
        java.lang.reflect.Method load = Class.forName("dev.dcd.catalog.RocksNative").getDeclaredMethod("load");
        load.setAccessible(true);
        load.invoke(null);
        long t1 = System.nanoTime();
        if (mode.equals("rocksdb")) {
            return;
        }
        Path home = Path.of(args[1]);
        try (Catalog catalog = Catalog.open(Catalog.config(home.resolve("catalog"), home.resolve("vdisks"))
                .clock(Clock.systemUTC()).build())) {
            catalog.backends(); // one read, as a build's first step
            long t2 = System.nanoTime();
            if (mode.equals("catalog")) {
                trace(t0, t1, t2);
                return;
            }
            if (mode.equals("durable")) {
                durable(Path.of(args[2]), Long.parseLong(args[3]));
            }
            long t3 = System.nanoTime();
            catalog.write(() -> null);
            trace(t0, t1, t2, t3, System.nanoTime());
        }
    }

    /** With FLOOR_TRACE set, the milliseconds each step took (stderr). */
    private static void trace(long... times) {
        if (System.getenv("FLOOR_TRACE") != null) {
            StringBuilder line = new StringBuilder("floor steps (ms):");
            for (int i = 1; i < times.length; i++) {
                line.append(' ').append((times[i] - times[i - 1]) / 1_000_000);
            }
            System.err.println(line + "; CPU of the process so far "
                    + ProcessHandle.current().info().totalCpuDuration().map(d -> d.toMillis() + " ms").orElse("?"));
        }
    }

    private static void durable(Path dir, long bytes) throws Exception {
        Path tmp = dir.resolve("floor.tmp");
        ByteBuffer block = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            for (long at = 0; at < bytes; ) {
                block.clear().limit((int) Math.min(block.capacity(), bytes - at));
                at += out.write(block, at);
            }
            out.force(true);
        }
        Files.move(tmp, dir.resolve("floor.img"), StandardCopyOption.ATOMIC_MOVE);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
