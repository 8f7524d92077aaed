package dev.dcd.catalog;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Progress;
import dev.dcd.vdisk.SealedVdisk;
import dev.dcd.vdisk.VdiskWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Imports a directory or archive as an app version: entries stream into a {@link VdiskWriter} (a temp file
 * under the tmp dir), the sealed vdisk goes to the backend, then the catalog records it in one batch.
 * Every failure undoes what came before it, so a failed import leaves no trace anywhere.
 */
public final class Importer {
    /** {@code foo-1.2.3}, {@code foo_1.2}, {@code is-number-7.0.0}, {@code tool-v2.0}. */
    private static final Pattern NAME_VERSION = Pattern.compile("^(.+?)[-_]v?(\\d[A-Za-z0-9._+~-]*)$");

    /** Temp vdisks are {@code tmp/import-<pid>-<start>-<random>.vdisk}: see {@link OwnedTempFiles}. */
    static final String TMP_PREFIX = "import-";
    static final String TMP_SUFFIX = ".vdisk";

    private final Catalog catalog;
    private final BackendOpener backends;
    private final Path tmpDir;
    private final Runnable beforeCatalogCommit;

    public Importer(Catalog catalog, BackendOpener backends, Path tmpDir) {
        this(catalog, backends, tmpDir, () -> {
        });
    }

    /** {@code beforeCatalogCommit} runs inside the write session, before the catalog batch; tests make it fail. */
    Importer(Catalog catalog, BackendOpener backends, Path tmpDir, Runnable beforeCatalogCommit) {
        this.catalog = catalog;
        this.backends = backends;
        this.tmpDir = tmpDir;
        this.beforeCatalogCommit = beforeCatalogCommit;
    }

    /** Bytes the importer will read from the source, for a progress bar; -1 for a directory. */
    public static long sourceBytes(Path source) throws IOException {
        return Files.isRegularFile(source) ? Files.size(source) : -1;
    }

    public ImportResult importSource(ImportRequest request, Progress progress, Consumer<String> warn) throws IOException {
        Path source = request.source();
        if (!Files.exists(source)) {
            throw new CatalogException("source '" + source + "' does not exist");
        }
        if (!Files.isDirectory(source) && !Files.isRegularFile(source)) {
            throw new CatalogException("source '" + source + "' is neither a directory nor a regular file");
        }
        SourceFormat format = SourceFormat.detect(source);
        catalog.requireBackend(request.backend());
        String[] identity = identify(request, format);
        String name = Names.checkName("app", identity[0]);
        String version = Names.checkVersion(identity[1]);
        if (catalog.app(name, version).isPresent()) {
            throw new CatalogException("app " + name + "@" + version + " is already in the catalog; remove it first with 'dcd catalog rm "
                    + name + "@" + version + "'");
        }
        List<String> warnings = new ArrayList<>();
        Consumer<String> collect = w -> {
            warnings.add(w);
            warn.accept(w);
        };
        // Imports killed with SIGKILL left their temp vdisk behind; their owners are gone, so they can go.
        OwnedTempFiles.sweep(tmpDir, TMP_PREFIX, TMP_SUFFIX);
        Path tmp = OwnedTempFiles.create(tmpDir, TMP_PREFIX, TMP_SUFFIX);
        try {
            SealedVdisk sealed;
            try (VdiskWriter writer = VdiskWriter.create(tmp, name, version, request.maxSize())) {
                SourceReaders.read(format, source, writer, progress, collect, request.maxRatio());
                sealed = writer.finish();
            }
            Backend backend = backends.open(request.backend());
            boolean existed = backend.stat(sealed.id()).isPresent();
            backend.putFile(sealed.id(), tmp, Progress.NONE); // a local backend renames it: no second copy
            AppVersion app = new AppVersion(name, version, sealed.id().hex(), request.backend(),
                    sealed.manifest().fileCount(), sealed.manifest().contentBytes(), sealed.length(),
                    catalog.clock().millis());
            // Everything above ran without the catalog's write lock; only the commit below takes it, so other
            // commands keep working however long the extraction and the upload take.
            TestGate.pass(TestGate.IMPORT_BEFORE_COMMIT);
            catalog.write(() -> {
                try {
                    beforeCatalogCommit.run();
                    if (backend.stat(sealed.id()).isEmpty()) {
                        // A `catalog gc` saw the object without catalog rows while this import ran and took it;
                        // under the lock no gc runs, so putting it again makes the rows below safe. A local backend
                        // took the sealed file by rename, so there is nothing left to put again.
                        if (!Files.exists(tmp)) {
                            throw new CatalogException("the vdisk of " + name + "@" + version + " was deleted by a"
                                    + " 'dcd catalog gc --orphans' that ran during this import; nothing was added, import it again");
                        }
                        backend.putFile(sealed.id(), tmp, Progress.NONE);
                    }
                    catalog.addApp(app);
                } catch (IOException | RuntimeException e) {
                    if (!existed && catalog.usersOf(sealed.id()).isEmpty()) {
                        try {
                            backend.delete(sealed.id());
                        } catch (IOException cleanup) {
                            e.addSuppressed(cleanup);
                        }
                    }
                    throw e;
                }
                return null;
            });
            return new ImportResult(app, warnings);
        } finally {
            OwnedTempFiles.delete(tmp);
        }
    }

    /** Name and version: flags first, then package metadata, then the file name. */
    private static String[] identify(ImportRequest request, SourceFormat format) throws IOException {
        String name = request.name();
        String version = request.version();
        if (format == SourceFormat.DEB && (name == null || version == null)) {
            SourceReaders.DebIdentity deb = SourceReaders.debIdentity(request.source());
            name = name == null ? deb.name() : name;
            version = version == null ? deb.version() : version;
        }
        String fileName = request.source().toAbsolutePath().normalize().getFileName().toString();
        String stem = format.stem(fileName);
        Matcher m = NAME_VERSION.matcher(stem);
        boolean matched = m.matches();
        if (name == null) {
            name = matched ? m.group(1) : stem;
        }
        if (version == null) {
            if (!matched) {
                throw new CatalogException("cannot derive a version from '" + fileName
                        + "' (expected a name like foo-1.2.3); pass --version");
            }
            version = m.group(2);
        }
        return new String[]{name, version};
    }

}
