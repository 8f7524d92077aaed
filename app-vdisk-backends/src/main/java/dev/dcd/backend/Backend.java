package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.ContentId;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A store of immutable app vdisks, one object per content id.
 *
 * <p>Designed for stores with millisecond latency: {@link #open} returns a device whose ranged reads are
 * independent requests, so callers may issue them concurrently. Every error is a {@link BackendException}
 * that names the backend and the object.
 */
public interface Backend extends Closeable {

    /** The name this backend has in the catalog (for error messages and stats). */
    String name();

    URI uri();

    /**
     * Stores {@code length} bytes read from {@code data} as the vdisk {@code id}. Atomic: until this returns,
     * no reader can see the object, and a failure leaves nothing behind. Storing an id that already exists is
     * a no-op apart from draining nothing: ids name content, so the bytes are the same.
     */
    void put(ContentId id, InputStream data, long length, Progress progress) throws IOException;

    /**
     * Stores the sealed vdisk {@code file} (already forced to disk) as {@code id}, with the guarantees of
     * {@link #put}. A backend that can take the file over instead of copying it may move it, so afterwards
     * {@code file} may be gone; the caller deletes it if it is still there. The default copies through
     * {@link #put}.
     */
    default void putFile(ContentId id, Path file, Progress progress) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            put(id, in, Files.size(file), progress);
        }
    }

    /** Opens the vdisk as a read-only device. */
    BlockDevice open(ContentId id) throws IOException;

    Optional<ObjectStat> stat(ContentId id) throws IOException;

    List<ObjectStat> list() throws IOException;

    /** Removes the vdisk; removing a missing one is not an error. */
    void delete(ContentId id) throws IOException;

    /** Reachability, latency and permissions, for {@code dcd backend check}. */
    default HealthReport check() {
        long start = System.nanoTime();
        try {
            list();
            return new HealthReport(true, System.nanoTime() - start, "list ok");
        } catch (IOException e) {
            return new HealthReport(false, System.nanoTime() - start, e.getMessage());
        }
    }

    /**
     * One bounded attempt to reach the store's server, for {@code dcd backend add}: no retries, and no longer than
     * the URI's connect timeout (a few seconds), so a server that is down, hung or misnamed is told apart in
     * seconds rather than after the read deadline meant for a running server that restarts. A failure is an
     * {@link UnreachableException} that says which. Stores with no server (a local directory) pass.
     */
    default void reach() throws IOException {
    }

    /**
     * Whether {@link #prepare} writes to the store, so that it must be reachable when it is added (a LUN gets
     * dcd's layout then); a store that needs nothing may be registered while it is down.
     */
    default boolean setUpWhenAdded() {
        return false;
    }

    /**
     * Readies the store when it is added ({@code dcd backend add}): a store that must be set up before use (a LUN
     * gets dcd's layout) is checked and set up here, so a bad one is refused before it enters the catalog.
     * {@code erase} allows erasing what the store holds when dcd cannot use it as it is ({@code --format}).
     * Most stores need nothing.
     */
    default void prepare(boolean erase) throws IOException {
    }

    /** Capacity, used and free bytes, for stores with a fixed size (a LUN); empty for the others. */
    default Optional<Usage> usage() throws IOException {
        return Optional.empty();
    }

    @Override
    default void close() throws IOException {
    }

    record Usage(long capacity, long used, long free) {
    }

    record ObjectStat(ContentId id, long size) {
    }

    record HealthReport(boolean ok, long latencyNanos, String detail) {
    }
}
