package dev.dcd.catalog;

import dev.dcd.vdisk.ContentId;

/**
 * A copy of a vdisk that {@code catalog move --keep-source} left on the backend it moved from, on purpose: the catalog
 * names the vdisk elsewhere, so without this record {@code catalog gc} would take the copy for a spare one and
 * delete it. Stored at {@code kept/<contentId>/<backend>} (docs/catalog.md).
 *
 * @param keptAt epoch milliseconds of the move that kept it (the catalog's clock)
 */
public record KeptCopy(String contentId, String backend, long keptAt) {
    public ContentId id() {
        return new ContentId(contentId);
    }
}
