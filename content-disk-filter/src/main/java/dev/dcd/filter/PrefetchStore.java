package dev.dcd.filter;

import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.PrefetchList;

import java.io.IOException;

/** Where start-up traces live (the catalog's {@code prefetch/<content-id>} keys in dcd; a map in tests). */
public interface PrefetchStore {
    /** The list recorded for the vdisk, or null when there is none. A damaged list is an IOException. */
    PrefetchList load(ContentId id) throws IOException;

    /** Stores the list unless the vdisk has one already; returns whether it was stored. */
    boolean saveIfAbsent(PrefetchList list) throws IOException;

    /** Stores the list in place of any the vdisk has (a recording asked for by command). */
    void replace(PrefetchList list) throws IOException;
}
