package dev.dcd.mount;

import java.util.List;

/** Waiting for a FUSE front end's own worker threads. */
final class Joins {
    private Joins() {
    }

    /**
     * Joins every thread without a timeout and without giving up on an interrupt (the session's state must outlive
     * every request still being answered); an interrupt that came meanwhile is restored for the caller.
     */
    static void joinAll(List<Thread> threads) {
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
