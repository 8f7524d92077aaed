package dev.dcd.block;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * An app vdisk's device that checks every checksum chunk of the vdisk's data region against the manifest's
 * CRC32C before it returns any byte of it (the S3 backend's devices do, as the chunks arrive). A cache in front
 * of such a device need not check the same bytes again on their way into the cache; it still checks what it
 * reads back from its own storage.
 */
public interface ChunkVerifiedDevice extends BlockDevice {
    /** Receives verified chunks as they arrive. */
    @FunctionalInterface
    interface ChunkSink {
        /**
         * {@code data} holds consecutive whole chunks from {@code firstChunk} on, each already verified (only the
         * data region's last chunk is short). Valid only during the call: the device reuses the memory. Called
         * from several threads at once, for disjoint chunks, in any order.
         */
        void accept(int firstChunk, ByteBuffer data) throws IOException;
    }

    /**
     * Hands chunks {@code [first, first + count)} of the data region to {@code sink} as they arrive, without
     * gathering them in one buffer first: for filling a cache, where a whole readahead window in memory would
     * only be copied once more on its way to disk. Returns once every chunk was handed over, or throws after
     * every transfer it started has ended (no call to the sink follows a return or a throw); chunks handed over
     * before a failure stay handed over.
     */
    void streamChunks(int first, int count, ChunkSink sink) throws IOException;
}
