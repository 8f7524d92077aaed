package dev.dcd.block;

/**
 * An app vdisk's device that checks every checksum chunk of the vdisk's data region against the manifest's
 * CRC32C before it returns any byte of it (the S3 backend's devices do, as the chunks arrive). A cache in front
 * of such a device need not check the same bytes again on their way into the cache; it still checks what it
 * reads back from its own storage.
 */
public interface ChunkVerifiedDevice extends BlockDevice {
}
