package dev.dcd.tests.support;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CleanupsTest {
    private final Cleanups cleanups = new Cleanups();
    private final List<String> closed = new ArrayList<>();

    @Test
    void closesEverythingLastAddedFirst() throws Exception {
        cleanups.add(() -> closed.add("mount"));
        cleanups.add(() -> closed.add("server"));
        cleanups.add(() -> closed.add("process"));

        cleanups.closeAll(Optional.empty());

        assertEquals(List.of("process", "server", "mount"), closed);
    }

    @Test
    void aFailingCleanupDoesNotStopTheOthersAndAPassedTestFailsWithTheFirstFailure() {
        IOException outer = new IOException("umount failed");
        IllegalStateException inner = new IllegalStateException("server would not stop");
        cleanups.add(() -> closed.add("mount"));
        cleanups.add(() -> {
            throw inner;
        });
        cleanups.add(() -> {
            throw outer;
        });
        cleanups.add(() -> closed.add("process"));

        IOException thrown = assertThrows(IOException.class, () -> cleanups.closeAll(Optional.empty()));

        assertSame(outer, thrown, "the first clean-up to fail (the last added of the failing ones)");
        assertArrayEquals(new Throwable[]{inner}, thrown.getSuppressed());
        assertEquals(List.of("process", "mount"), closed);
    }

    @Test
    void aFailedTestKeepsItsOwnFailureWithTheCleanupFailuresSuppressedUnderIt() throws Exception {
        AssertionError testFailure = new AssertionError("expected 3 bytes, read 2");
        IOException cleanupFailure = new IOException("umount failed");
        AssertionError cleanupAssertion = new AssertionError("process still running");
        cleanups.add(() -> {
            throw cleanupAssertion;
        });
        cleanups.add(() -> {
            throw cleanupFailure;
        });

        cleanups.closeAll(Optional.of(testFailure));

        assertArrayEquals(new Throwable[]{cleanupFailure, cleanupAssertion}, testFailure.getSuppressed());
    }

    @Test
    void eachCleanupRunsOnceSoTheNextTestStartsEmpty() throws Exception {
        cleanups.add(() -> closed.add("mount"));
        cleanups.closeAll(Optional.empty());
        cleanups.closeAll(Optional.empty());

        assertEquals(List.of("mount"), closed);
    }
}
