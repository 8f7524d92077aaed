package dev.dcd.tests.scripts;

import dev.dcd.tests.vmmount.VmCli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Real Debian packages for the tests: fetched once per checkout with {@code apt-get download} into
 * {@code tests/target/packages} (apt's lists are there because {@code ./dcd test} runs apt-get update).
 */
public final class DebianPackages {
    public static final Path CACHE = Path.of("target", "packages").toAbsolutePath();

    private DebianPackages() {
    }

    /** The .deb of {@code pkg}, downloaded unless a copy is cached already. */
    public static Path get(String pkg) throws IOException {
        Files.createDirectories(CACHE);
        Path found = find(pkg);
        if (found == null) {
            VmCli.Result r = VmCli.run("bash", "-c", "cd '" + CACHE + "' && apt-get download " + pkg);
            if (r.code() != 0) {
                throw new AssertionError("apt-get download " + pkg + ": " + r);
            }
            found = find(pkg);
            if (found == null) {
                throw new AssertionError("apt-get download " + pkg + " left no " + pkg + "_*.deb in " + CACHE);
            }
        }
        return found;
    }

    private static Path find(String pkg) throws IOException {
        try (Stream<Path> cached = Files.list(CACHE)) {
            return cached.filter(p -> p.getFileName().toString().matches(java.util.regex.Pattern.quote(pkg) + "_.*\\.deb"))
                    .findFirst().orElse(null);
        }
    }
}
