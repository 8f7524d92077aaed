package dev.dcd.catalog;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Named points where an end-to-end test can hold a real dcd process, so tests of concurrent commands need
 * no timing. Inert unless {@code DCD_TEST_GATE=NAME=FIFO} is set: at the point called NAME the process opens
 * the named pipe FIFO for reading — which blocks until the test opens it for writing, telling the test the
 * point is reached — and goes on when the test closes it (end of file).
 *
 * <p>Points: {@value #IMPORT_BEFORE_COMMIT} (the vdisk is on the backend, the catalog rows are not written,
 * no lock is held), {@value #CATALOG_WRITE} (a write holds the catalog's write lock) and
 * {@value #MOVE_AFTER_SWITCH} ({@code catalog move} has switched the catalog to the target, has not yet asked the
 * running servers to switch, and has not deleted the source; no lock is held) and {@value #MOVE_DURING_COPY}
 * ({@code catalog move} has handed the target's put its first 8 MiB: a partial temporary copy is on the target,
 * the catalog is untouched) and {@value #SERVE_STARTING} ({@code dcd serve} has registered itself as a reader and
 * opened its vdisks, resolved through the catalog; it has no control socket and no serve record yet).
 */
public final class TestGate {
    public static final String ENV = "DCD_TEST_GATE";
    public static final String IMPORT_BEFORE_COMMIT = "import-before-commit";
    public static final String CATALOG_WRITE = "catalog-write";
    public static final String MOVE_AFTER_SWITCH = "move-after-switch";
    public static final String MOVE_DURING_COPY = "move-during-copy";
    public static final String SERVE_STARTING = "serve-starting";

    private TestGate() {
    }

    public static void pass(String name) throws IOException {
        String spec = System.getenv(ENV);
        if (spec == null || !spec.startsWith(name + "=")) {
            return;
        }
        Path fifo = Path.of(spec.substring(name.length() + 1));
        try (InputStream in = Files.newInputStream(fifo)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
    }
}
