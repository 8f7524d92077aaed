package dev.dcd.catalog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The catalog's sharing rules: reads take no lock and write nothing; writes take the write lock only for
 * their session, wait for another session (bounded, saying who holds it) and check against committed state.
 * Across processes the same rules are exercised with real dcd processes in {@code CatalogConcurrencyIT}.
 */
class CatalogSessionsTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-03-04T05:06:07Z"), ZoneOffset.UTC);
    private static final long WAIT_SECONDS = 60;

    @TempDir
    Path dir;

    private Catalog open(Duration timeout, List<String> notices) throws IOException {
        return Catalog.open(Catalog.config(dir.resolve("db"), dir.resolve("vdisks")).clock(CLOCK).lockTimeout(timeout)
                .holder("test holder").notices(notices::add).build());
    }

    private Catalog open() throws IOException {
        return open(Catalog.DEFAULT_LOCK_TIMEOUT, new CopyOnWriteArrayList<>());
    }

    @Test
    void readsWorkWhileAnotherCatalogHoldsAWriteSession() throws Exception {
        try (Catalog writer = open(); Catalog reader = open()) {
            writer.createVm("before", "ext4", 1L << 30);
            reader.refresh();
            List<String> seen = writer.write(() -> {
                writer.createVm("inside", "ext4", 1L << 30);
                return join(async(() -> reader.vms().stream().map(Vm::name).toList()));
            });
            assertEquals(List.of("before", "inside"), seen,
                    "a reader neither waits nor fails, and sees each batch once it is committed");
        }
    }

    @Test
    void aWriterWaitsForAnotherSessionAndSaysOnceWhoHoldsIt() throws Exception {
        List<String> notices = new CopyOnWriteArrayList<>();
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (Catalog first = open(); Catalog second = open(Catalog.DEFAULT_LOCK_TIMEOUT, notices)) {
            CompletableFuture<Object> session = async(() -> first.write(() -> {
                first.createVm("a", "ext4", 1L << 30);
                holding.countDown();
                await(release);
                return null;
            }));
            assertTrue(holding.await(WAIT_SECONDS, TimeUnit.SECONDS));
            CompletableFuture<Vm> waiting = async(() -> second.createVm("b", "ext4", 1L << 30));
            awaitNotice(notices, waiting);
            assertFalse(waiting.isDone(), "the second writer waits while the first session runs");
            release.countDown();
            join(session);
            assertEquals("b", join(waiting).name());
            assertEquals(1, notices.size(), notices.toString());
            assertTrue(notices.get(0).startsWith("waiting up to 30 s for the catalog: "), notices.get(0));
            second.refresh();
            assertEquals(List.of("a", "b"), second.vms().stream().map(Vm::name).toList());
        }
    }

    @Test
    void aWriterGivesUpAfterItsTimeoutNamingTheHolderAndChangesNothing() throws Exception {
        List<String> notices = new CopyOnWriteArrayList<>();
        try (Catalog first = open(); Catalog impatient = open(Duration.ofMillis(300), notices)) {
            Map<String, String> before = first.dump();
            Throwable failure = first.write(() -> {
                CompletableFuture<Vm> attempt = async(() -> impatient.createVm("b", "ext4", 1L << 30));
                try {
                    attempt.get(WAIT_SECONDS, TimeUnit.SECONDS);
                    return null;
                } catch (ExecutionException e) {
                    return e.getCause();
                } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
                    throw new IOException(e);
                }
            });
            assertInstanceOf(CatalogException.class, failure);
            assertTrue(failure.getMessage().startsWith("the catalog " + dir.resolve("db") + " is still being written by "),
                    failure.getMessage());
            assertTrue(failure.getMessage().endsWith(" after 0.3 s; try again later, or wait longer with DCD_LOCK_TIMEOUT=SECONDS"),
                    failure.getMessage());
            assertEquals(1, notices.size(), notices.toString());
            impatient.refresh();
            assertEquals(before, impatient.dump());
        }
    }

    @Test
    void aWriterLeavesItsPidAndCommandInTheLockFileForWaiters() throws Exception {
        // The holder record another process leaves in the lock file, read by a waiter that finds it locked.
        Path lockFile = dir.resolve("db").resolve(CatalogLock.FILE_NAME);
        try (Catalog c = open()) {
            c.createVm("a", "ext4", 1L << 30);
        }
        String record = Files.readString(lockFile);
        assertEquals(CatalogLock.RECORD, record.length());
        assertEquals("pid " + ProcessHandle.current().pid() + " (test holder)", record.trim());
    }

    @Test
    void checksInsideAWriteSeeWhatOthersCommittedNotTheReadSnapshot() throws IOException {
        try (Catalog first = open(); Catalog second = open()) {
            assertTrue(second.vm("web").isEmpty(), "the read view is opened here, before the VM exists");
            first.createVm("web", "ext4", 1L << 30);
            assertTrue(second.vm("web").isEmpty(), "reads share one snapshot until refresh");
            CatalogException e = assertThrows(CatalogException.class, () -> second.createVm("web", "fat32", 1L << 30));
            assertEquals("VM 'web' already exists", e.getMessage());
            assertEquals("ext4", second.requireVm("web").fsType(), "after its own write session the view is new");
        }
    }

    @Test
    void openingAndReadingAnExistingCatalogWritesNothing() throws IOException {
        try (Catalog c = open()) {
            c.createVm("web", "ext4", 1L << 30);
        }
        Map<String, String> before = listing(dir.resolve("db"));
        try (Catalog c = open()) {
            assertEquals(1, c.vms().size());
            c.apps();
            c.backends();
        }
        assertEquals(before, listing(dir.resolve("db")));
    }

    @Test
    void aWriteSessionLeavesASpaceReserveForAFullDisk() throws Exception {
        try (Catalog c = open()) {
            c.createVm("web", "ext4", 1L << 30);
        }
        Path reserve = dir.resolve("db").resolve(SpaceReserve.FILE_NAME);
        assertEquals(SpaceReserve.SIZE, Files.size(reserve));
        // Real blocks, not a hole: deleting it must give space back.
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", reserve.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String[] blocks = new String(stat.getInputStream().readAllBytes()).trim().split(" ");
        assertTrue(stat.waitFor(WAIT_SECONDS, TimeUnit.SECONDS));
        assertTrue(Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]) >= SpaceReserve.SIZE, String.join(" ", blocks));
    }

    @Test
    void theSameThreadNestsWritesInOneSession() throws IOException {
        try (Catalog c = open()) {
            CatalogException e = assertThrows(CatalogException.class, () -> c.write(() -> {
                c.createVm("a", "ext4", 1L << 30);
                c.putVm(c.requireVm("a").withAssignment(new Vm.Assignment("x", "1", 0)));
                return null;
            }));
            assertEquals("app x@1 is not in the catalog", e.getMessage());
        }
        try (Catalog c = open()) {
            assertEquals(List.of("a"), c.vms().stream().map(Vm::name).toList(),
                    "the VM was committed by its own batch before the failing put");
        }
    }

    interface IoCall<T> {
        T call() throws IOException;
    }

    private static <T> CompletableFuture<T> async(IoCall<T> call) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return call.call();
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    private static <T> T join(CompletableFuture<T> future) throws IOException {
        try {
            return future.get(WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
            throw new IOException(e);
        }
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            assertTrue(latch.await(WAIT_SECONDS, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }

    /** Waits for the waiting writer's notice, failing early if the writer finished instead of waiting. */
    private static void awaitNotice(List<String> notices, CompletableFuture<?> writer) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (notices.isEmpty()) {
            if (writer.isDone()) {
                writer.get();
                throw new AssertionError("the second writer finished without waiting");
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no notice within " + WAIT_SECONDS + " s");
            }
            Thread.onSpinWait();
        }
    }

    private static Map<String, String> listing(Path dir) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.toList()) {
                files.put(p.getFileName().toString(), Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis());
            }
        }
        return files;
    }
}
