package dev.dcd.catalog;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** A catalog, its local backend and tmp dir under one temp directory, with a way to prove nothing changed. */
final class Fixture implements AutoCloseable {
    static final Instant NOW = Instant.parse("2026-01-02T03:04:05Z");

    final Path root;
    final Path tmp;
    final Path vdisks;
    final Catalog catalog;
    final Backend local;
    final List<String> warnings = new ArrayList<>();

    Fixture(Path root) throws IOException {
        this.root = root;
        this.tmp = root.resolve("tmp");
        this.vdisks = root.resolve("vdisks");
        this.catalog = Catalog.open(root.resolve("catalog"), vdisks, Clock.fixed(NOW, ZoneOffset.UTC));
        this.local = Backends.open(Catalog.LOCAL, Catalog.localUri(vdisks));
    }

    Importer importer() {
        return new Importer(catalog, this::backend, tmp);
    }

    Backend backend(String name) throws IOException {
        if (name.equals(Catalog.LOCAL)) {
            return local;
        }
        var entry = catalog.requireBackend(name);
        return Backends.open(name, entry.parsedUri());
    }

    ImportResult importSource(Path source) throws IOException {
        return importer().importSource(ImportRequest.builder(source).build(), dev.dcd.backend.Progress.NONE, warnings::add);
    }

    ImportResult importSource(ImportRequest request) throws IOException {
        return importer().importSource(request, dev.dcd.backend.Progress.NONE, warnings::add);
    }

    /** Everything an import could touch: every catalog key, every backend object, every temp file. */
    record State(Map<String, String> catalog, List<Backend.ObjectStat> objects, List<String> tmpFiles) {
    }

    State state() throws IOException {
        List<String> tmpFiles = new ArrayList<>();
        if (Files.isDirectory(tmp)) {
            try (Stream<Path> files = Files.list(tmp)) {
                files.forEach(p -> tmpFiles.add(p.getFileName().toString()));
            }
        }
        List<Backend.ObjectStat> objects = new ArrayList<>(local.list());
        // Also any file a failed put might leave in the backend directory, temp names included.
        if (Files.isDirectory(vdisks)) {
            try (Stream<Path> files = Files.list(vdisks)) {
                files.filter(p -> p.getFileName().toString().startsWith("."))
                        .forEach(p -> tmpFiles.add("backend:" + p.getFileName()));
            }
        }
        return new State(catalog.dump(), objects, tmpFiles);
    }

    @Override
    public void close() throws IOException {
        local.close();
        catalog.close();
    }
}
