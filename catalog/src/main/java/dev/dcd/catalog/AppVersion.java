package dev.dcd.catalog;

import dev.dcd.vdisk.ContentId;

/**
 * One imported app version.
 *
 * @param contentId   hex content id of its vdisk
 * @param backend     name of the backend the vdisk lives on
 * @param fileCount   regular files and hardlinks in the manifest
 * @param byteCount   bytes of file content as the guest sees it
 * @param vdiskBytes  size of the vdisk object
 * @param importedAt  epoch milliseconds, from the catalog's clock
 */
public record AppVersion(String name, String version, String contentId, String backend, long fileCount,
                         long byteCount, long vdiskBytes, long importedAt) {

    public ContentId id() {
        return new ContentId(contentId);
    }

    public String label() {
        return name + "@" + version;
    }
}
