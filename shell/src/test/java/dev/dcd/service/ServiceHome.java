package dev.dcd.service;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.ImportRequest;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

/** A temporary {@code $DCD_HOME} with the local backend, for testing services without the CLI. */
final class ServiceHome implements Closeable {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-05-06T07:08:09Z"), ZoneOffset.UTC);

    final Path dir;
    final HomeResources resources;
    final DcdEnvironment env;
    final List<String> warnings = new ArrayList<>();

    ServiceHome(Path dir) {
        this.dir = dir;
        this.resources = HomeResources.of(dir, CLOCK);
        this.env = resources.environment(warnings::add);
    }

    /** Writes an app directory {@code NAME-VERSION} under {@code parent} with the given files (path, text). */
    static Path app(Path parent, String nameVersion, String... pathsAndTexts) throws IOException {
        Path root = parent.resolve(nameVersion);
        for (int i = 0; i < pathsAndTexts.length; i += 2) {
            Path file = root.resolve(pathsAndTexts[i]);
            Files.createDirectories(file.getParent());
            Files.writeString(file, pathsAndTexts[i + 1]);
        }
        return root;
    }

    AppVersion importDir(Path source) throws IOException {
        return new ImportService(env).importSource(ImportRequest.builder(source).build(), ProgressSink.NONE).app();
    }

    @Override
    public void close() throws IOException {
        resources.close();
    }
}
