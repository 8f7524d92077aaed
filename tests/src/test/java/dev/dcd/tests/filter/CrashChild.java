package dev.dcd.tests.filter;

import dev.dcd.filter.DynamicContentDisk;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The process the crash test kills: writes round after round, flushing after each and printing
 * "flushed N" only once the flush has returned, then starts the next round's writes straight away, so
 * there are always acknowledged-but-unflushed writes in flight when SIGKILL arrives.
 */
public final class CrashChild {
    private CrashChild() {
    }

    public static void main(String[] args) throws Exception {
        Path generation = Path.of(args[0]);
        Path store = Path.of(args[1]);
        int first = Integer.parseInt(args[2]);
        int last = Integer.parseInt(args[3]);
        DynamicContentDisk disk = CrashPlan.open(generation, store);
        System.out.println("open");
        System.out.flush();
        for (int round = first; round < last; round++) {
            for (CrashPlan.Write w : CrashPlan.round(round)) {
                disk.write(w.offset(), ByteBuffer.wrap(w.data()));
            }
            disk.flush();
            System.out.println("flushed " + round);
            System.out.flush();
        }
        // Keep the disk open and unflushed writes pending: the parent kills us; we never close cleanly.
        for (CrashPlan.Write w : CrashPlan.round(last)) {
            disk.write(w.offset(), ByteBuffer.wrap(w.data()));
        }
        System.out.println("done");
        System.out.flush();
        Thread.sleep(600_000);
    }
}
