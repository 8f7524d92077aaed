package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.ImportResult;
import dev.dcd.catalog.Importer;

import java.io.IOException;
import java.util.Objects;
import java.util.Optional;

/**
 * Imports an app from a directory or an archive into the catalog: the vdisk is sealed, put on its backend, and
 * only then recorded (see {@link Importer}). Warnings about the source (skipped entries and the like) go to the
 * environment's warnings as they arise and are also part of the result.
 */
public final class ImportService {
    private final DcdEnvironment env;

    public ImportService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    public ImportResult importSource(ImportRequest request, ProgressSink progress) throws IOException {
        Importer importer = new Importer(env.catalog(), env::backend, env.tmpDir());
        try (ProgressSink.Task task = progress.start("import", Importer.sourceBytes(request.source()))) {
            return importer.importSource(request, task, env.warnings());
        }
    }

    /**
     * The app version a source named {@code NAME-VERSION} (a directory or archive without its extension) was
     * imported as, if it is in the catalog; lets idempotent callers such as the demo skip a second import.
     */
    public Optional<AppVersion> alreadyImported(String baseName) throws IOException {
        int dash = baseName.lastIndexOf('-');
        if (dash <= 0 || dash == baseName.length() - 1) {
            return Optional.empty();
        }
        return env.catalog().app(baseName.substring(0, dash), baseName.substring(dash + 1));
    }
}
