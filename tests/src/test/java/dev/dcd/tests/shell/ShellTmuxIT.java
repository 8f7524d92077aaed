package dev.dcd.tests.shell;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged {@code dcd} jar as a person uses it: an interactive shell on a real terminal (tmux), typed
 * at key by key, read back from the screen.
 */
class ShellTmuxIT {
    private static final Duration START = Duration.ofSeconds(60);
    private static final Duration STEP = Duration.ofSeconds(30);
    private static final int COLUMNS = 100;

    @TempDir
    Path temp;
    Tmux tmux;

    private static Path jar() {
        Path jar = Path.of(System.getProperty("dcd.jar", "../shell/target/dcd.jar")).toAbsolutePath();
        assertTrue(Files.isRegularFile(jar), "the packaged jar is built before integration tests: " + jar);
        return jar;
    }

    private static Path repo() {
        return Path.of(System.getProperty("dcd.repo", "..")).toAbsolutePath().normalize();
    }

    /**
     * Outside the @TempDir: when a test ends with the shell still running, tmux's kill-server makes the pane's
     * shell write this file late, and a late write must not race JUnit's removal of the temp directory.
     */
    private Path statusDir;

    private Path statusFile() throws IOException {
        if (statusDir == null) {
            statusDir = Files.createTempDirectory("dcd-tmux-status");
        }
        return statusDir.resolve("exit-status");
    }

    /** The status the pane's shell saw when dcd ended (written just before the pane closes). */
    private int exitStatus() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(statusFile()) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertTrue(Files.exists(statusFile()), "dcd's exit status was recorded; screen:\n" + tmux.screen());
        return Integer.parseInt(Files.readString(statusFile()).strip());
    }

    private Tmux startShell(Path home) throws IOException, InterruptedException {
        // The pane's shell records the exit status itself: $? is 128+N when a signal ended the JVM, so the
        // check below stays strict without depending on when tmux reaps the pane.
        String command = "env DCD_HOME='" + home + "' LC_ALL=C.UTF-8 TERM=xterm-256color java -jar '" + jar() + "'; echo $? > '"
                + statusFile() + "'";
        tmux = Tmux.start(temp.resolve("tmux.sock"), COLUMNS, 40, command);
        // capture-pane drops trailing blanks, so the prompt "dcd> " reads as "dcd>".
        tmux.await("the first prompt", START, s -> lastLine(s).equals("dcd>"));
        return tmux;
    }

    @AfterEach
    void stopTmux() throws IOException, InterruptedException {
        if (tmux != null) {
            tmux.close();
        }
        if (statusDir != null) {
            // Best effort, for the reason above; a status written after this is a stray file in /tmp.
            try (var files = Files.list(statusDir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(statusDir);
            } catch (IOException e) {
                // left for the system's tmp cleaner
            }
        }
    }

    /** The last non-blank line on the screen. */
    private static String lastLine(String screen) {
        return screen.lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("");
    }

    @Test
    void provisionAnAppToAVmFromTheInteractiveShell() throws Exception {
        Path home = temp.resolve("home");
        Tmux t = startShell(home);

        t.type("cat");
        t.press("Tab");
        t.await("'cat' completed to 'catalog'", STEP, s -> lastLine(s).equals("dcd> catalog"));

        t.type("import " + repo().resolve("samples/greet-1.0.0"));
        t.press("Enter");
        t.await("greet imported", STEP, s -> s.contains("imported greet@1.0.0: ") && lastLine(s).equals("dcd>"));
        t.type("catalog import " + repo().resolve("samples/webapp-2.1.0"));
        t.press("Enter");
        t.await("webapp imported", STEP, s -> s.contains("imported webapp@2.1.0: ") && lastLine(s).equals("dcd>"));

        t.type("vm create web1 --size 64M");
        t.press("Enter");
        t.await("web1 created", STEP, s -> s.contains("created VM web1 (ext4, 64.0 MiB)") && lastLine(s).equals("dcd>"));

        t.type("use w");
        t.press("Tab");
        t.await("VM name completed", STEP, s -> lastLine(s).equals("dcd> use web1"));
        t.press("Enter");
        t.await("the prompt names the current VM", STEP, s -> lastLine(s).equals("dcd[web1]>"));

        t.type("assign gree");
        t.press("Tab");
        // greet and greet@1.0.0 share "greet": completed that far, the candidates listed below the line.
        t.await("app name completed", STEP, s -> s.lines().anyMatch(l -> l.equals("dcd[web1]> assign greet")));
        t.type(" webapp@2");
        t.press("Tab");
        t.await("app version completed", STEP, s -> s.lines().anyMatch(l -> l.equals("dcd[web1]> assign greet webapp@2.1.0")));
        t.press("Enter");
        t.await("both assigned to the current VM", STEP,
                s -> s.contains("assigned webapp@2.1.0 to web1") && lastLine(s).equals("dcd[web1]>"));

        t.type("vm show");
        t.press("Enter");
        String shown = t.await("the VM's app table", STEP, s -> s.contains("webapp  2.1.0") && lastLine(s).equals("dcd[web1]>"));
        assertTrue(shown.contains("APP     VERSION  PRIORITY  FILES   SIZE"), shown);
        assertTrue(shown.contains("greet   1.0.0           0"), shown);

        t.type("catalog list");
        t.press("Enter");
        shown = t.await("the catalog table", STEP, s -> s.contains("APP     VERSION  FILES") && lastLine(s).equals("dcd[web1]>"));
        for (String line : shown.lines().toList()) {
            assertTrue(line.stripTrailing().length() < COLUMNS, "table fits the terminal: " + line);
        }

        t.type("build");
        t.press("Enter");
        t.await("the disk is built", STEP, s -> s.contains("built web1 generation 1") && lastLine(s).equals("dcd[web1]>"));

        Path mountpoint = temp.resolve("mnt");
        Files.createDirectories(mountpoint);
        try {
            t.type("mount " + mountpoint);
            t.press("Enter");
            t.await("the disk is mounted", STEP, s -> s.contains("mounted web1 at " + mountpoint) && lastLine(s).equals("dcd[web1]>"));
            assertEquals(Files.readString(repo().resolve("samples/greet-1.0.0/bin/greet")),
                    Files.readString(mountpoint.resolve("files/bin/greet")), "a file read through the mount");

            t.type("disk stat");
            t.press("Enter");
            String stat = t.await("the disk stat table", STEP, s -> s.contains("app_data") && lastLine(s).equals("dcd[web1]>"));
            assertTrue(stat.contains("REGION    COUNT"), stat);

            t.type("stats");
            t.press("Enter");
            String stats = t.await("live stats of the mount", STEP, s -> s.contains("greet@1.0.0") && lastLine(s).equals("dcd[web1]>"));
            assertTrue(stats.contains("mounted at " + mountpoint), stats);
        } finally {
            new ProcessBuilder("java", "-jar", jar().toString(), "--home", home.toString(), "umount", mountpoint.toString())
                    .inheritIO().start().waitFor();
        }

        t.type("vm show nosuchvm");
        t.press("Enter");
        t.await("an error is one line and the shell keeps going", STEP,
                s -> s.contains("dcd: unknown VM 'nosuchvm'") && lastLine(s).equals("dcd[web1]>"));

        t.type("use");
        t.press("Enter");
        t.await("the current VM", STEP, s -> s.contains("current VM: web1") && lastLine(s).equals("dcd[web1]>"));

        t.press("C-d");
        t.await("Ctrl-D ends the shell", STEP, s -> {
            try {
                return t.exited();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(0, exitStatus(), "like sh, the shell exits with the status of its last command ('use')");
        String history = Files.readString(home.resolve("history"));
        assertTrue(history.contains("use web1") && history.contains("vm create web1 --size 64M"), history);
    }

    @Test
    void ctrlCCancelsALongImportAndTheShellStays() throws Exception {
        Path big = Files.createDirectories(temp.resolve("big-1.0"));
        try (RandomAccessFile f = new RandomAccessFile(big.resolve("zeros.bin").toFile(), "rw")) {
            f.setLength(8L << 30); // sparse: costs no disk, but takes the importer many seconds to read
        }
        Path home = temp.resolve("home");
        Tmux t = startShell(home);
        t.type("catalog import " + big);
        t.press("Enter");
        Thread.sleep(1500); // let the import get going; there is nothing on screen to wait for
        t.press("C-c");
        t.await("the command is cancelled", STEP, s -> s.contains("dcd: cancelled") && lastLine(s).equals("dcd>"));
        t.type("catalog list");
        t.press("Enter");
        // An empty catalog: the header and the prompt right after it.
        t.await("the shell still runs commands and nothing was imported", STEP,
                s -> s.contains("IMPORTED\ndcd>") && lastLine(s).equals("dcd>"));
        try (var leftovers = Files.list(home.resolve("tmp"))) {
            assertEquals(0, leftovers.count(), "the cancelled import cleaned up its temporary vdisk");
        }
        t.press("C-d");
    }
}
