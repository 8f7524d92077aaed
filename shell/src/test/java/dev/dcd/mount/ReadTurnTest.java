package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One loop thread reads /dev/fuse at a time; a request that may take long hands the turn on; the end frees everyone. */
class ReadTurnTest {
    private static final long BOUND_SECONDS = 30; // "not hung", not a timing

    @Test
    void aSecondThreadWaitsWhileTheFirstReadsAndTakesTheTurnWhenItIsHandedOn() throws Exception {
        LowLevelServer.ReadTurn turn = new LowLevelServer.ReadTurn();
        assertTrue(turn.take());
        CompletableFuture<Boolean> second = CompletableFuture.supplyAsync(turn::take);
        awaitWaitingInTake(1);
        assertFalse(second.isDone(), "the turn is taken");
        turn.release(true); // the first thread's request reaches the disk
        assertTrue(second.get(BOUND_SECONDS, TimeUnit.SECONDS));
    }

    @Test
    void aThreadThatAnsweredFromMemoryTakesTheTurnAgainWithoutWakingAnyone() {
        LowLevelServer.ReadTurn turn = new LowLevelServer.ReadTurn();
        assertTrue(turn.take());
        turn.release(false);
        assertTrue(turn.take(), "free again at once");
    }

    @Test
    void theEndOfTheConnectionReleasesEveryWaitingThread() throws Exception {
        LowLevelServer.ReadTurn turn = new LowLevelServer.ReadTurn();
        assertTrue(turn.take());
        CompletableFuture<Boolean> a = CompletableFuture.supplyAsync(turn::take);
        CompletableFuture<Boolean> b = CompletableFuture.supplyAsync(turn::take);
        awaitWaitingInTake(2);
        assertFalse(a.isDone() || b.isDone());
        turn.end();
        assertEquals(false, a.get(BOUND_SECONDS, TimeUnit.SECONDS));
        assertEquals(false, b.get(BOUND_SECONDS, TimeUnit.SECONDS));
        assertFalse(turn.take(), "nobody reads after the end");
    }

    @Test
    void listingsAndDiskRequestsHandTheTurnOnAndNamesDoNot() {
        assertTrue(LowLevelServer.mayTakeLong(FuseWire.READ));
        assertTrue(LowLevelServer.mayTakeLong(FuseWire.WRITE));
        assertTrue(LowLevelServer.mayTakeLong(FuseWire.READDIRPLUS));
        assertFalse(LowLevelServer.mayTakeLong(FuseWire.LOOKUP));
        assertFalse(LowLevelServer.mayTakeLong(FuseWire.OPEN));
        assertFalse(LowLevelServer.mayTakeLong(FuseWire.RELEASE));
    }

    /** Waits (bounded) until {@code n} threads are blocked in ReadTurn.take(), as their stacks show. */
    private static void awaitWaitingInTake(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(BOUND_SECONDS);
        while (waitingInTake() < n) {
            assertTrue(System.nanoTime() < deadline, n + " threads waiting in take()");
            Thread.sleep(1);
        }
    }

    private static long waitingInTake() {
        return Thread.getAllStackTraces().entrySet().stream()
                .filter(e -> e.getKey().getState() == Thread.State.WAITING)
                .filter(e -> java.util.Arrays.stream(e.getValue()).anyMatch(f -> f.getMethodName().equals("take")
                        && f.getClassName().endsWith("ReadTurn")))
                .count();
    }
}
