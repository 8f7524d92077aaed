package dev.dcd.catalog;

import java.util.List;

/** An app version that is now in the catalog, and what was skipped on the way (one line each). */
public record ImportResult(AppVersion app, List<String> warnings) {
    public ImportResult {
        warnings = List.copyOf(warnings);
    }
}
