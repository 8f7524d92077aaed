package dev.dcd.shell.interactive;

import org.jline.reader.LineReader;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.DumbTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drives the shell's line reader with scripted keystrokes through a dumb terminal, the way JLine's own
 * reader tests do: what Tab completes to is what {@code readLine} returns.
 */
class LineEditorTest {
    private static final String TAB = "\t";
    private static final String CTRL_P = "\u0010";
    private static final String CTRL_R = "\u0012";

    @TempDir
    Path temp;
    ShellFixture fixture;
    ShellSession session;

    @BeforeEach
    void setUp() throws IOException {
        fixture = new ShellFixture(temp);
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        session = fixture.session(sink, sink);
    }

    @AfterEach
    void tearDown() throws IOException {
        session.close();
    }

    /** Types {@code keys} into a fresh line reader and returns the line it accepts. */
    private String type(String keys) throws IOException {
        return type(keys, null);
    }

    private String type(String keys, Path history) throws IOException {
        try (Terminal terminal = terminal(keys, new ByteArrayOutputStream())) {
            LineReader reader = InteractiveShell.reader(terminal, session, history);
            String line = reader.readLine("dcd> ");
            if (history != null) {
                reader.getHistory().save();
            }
            return line;
        }
    }

    private static Terminal terminal(String keys, ByteArrayOutputStream screen) throws IOException {
        DumbTerminal terminal = new DumbTerminal("test", "ansi",
                new ByteArrayInputStream(keys.getBytes(StandardCharsets.UTF_8)), screen, StandardCharsets.UTF_8);
        terminal.setSize(new Size(120, 40));
        return terminal;
    }

    @Test
    void tabCompletesACommandName() throws IOException {
        assertEquals("catalog ", type("cat" + TAB + "\n"));
        assertEquals("vm ", type("v" + TAB + "\n"));
    }

    @Test
    void tabCompletesSubcommandsAndOptions() throws IOException {
        assertEquals("catalog import ", type("catalog imp" + TAB + "\n"));
        assertEquals("vm create x --size ", type("vm create x --si" + TAB + "\n"));
        assertEquals("vm create x --fs fat32 ", type("vm create x --fs fa" + TAB + "\n"));
    }

    @Test
    void tabCompletesAppNamesAndVersionsFromTheCatalog() throws IOException {
        assertEquals("catalog show webapp", type("catalog show we" + TAB + "\n"), "webapp and webapp@2.1.0 share 'webapp'");
        assertEquals("catalog show webapp@2.1.0 ", type("catalog show webapp@" + TAB + "\n"));
        assertEquals("vm assign web1 greet@1.0.0 ", type("vm assign web1 greet@" + TAB + "\n"));
    }

    @Test
    void tabCompletesReaderSubcommandsCheckKindsAndTheSessionsReaderNames() throws IOException {
        assertEquals("reader stop ", type("reader sto" + TAB + "\n"));
        assertEquals("check reader ", type("check rea" + TAB + "\n"));
        assertEquals("check backend ", type("check ba" + TAB + "\n"));
        BackgroundReader idle = BackgroundReader.builder().items(java.util.List.of(new BackgroundReader.FileItem(
                temp.resolve("x"), "files/x", 0, new byte[32]))).build();
        session.readers().add(new Readers.Entry("soak", new ReaderTargets.Mount("web1", temp, 1), idle, 1, 0));
        assertEquals("reader stop soak ", type("reader stop s" + TAB + "\n"));
        assertEquals("reader wait soak ", type("reader wait " + TAB + "\n"));
    }

    @Test
    void tabCompletesVmNamesAndSeesVmsCreatedMeanwhile() throws IOException {
        assertEquals("vm show web1 ", type("vm show w" + TAB + "\n"));
        assertEquals("disk build web1 ", type("disk build w" + TAB + "\n"));
        assertEquals("use web1 ", type("use w" + TAB + "\n"));
        fixture.cli("vm", "create", "kiosk", "--size", "64M");
        assertEquals("vm show kiosk ", type("vm show k" + TAB + "\n"));
    }

    @Test
    void tabCompletesBackendNamesAndFilePaths() throws IOException {
        assertEquals("backend check local ", type("backend check lo" + TAB + "\n"));
        assertEquals("catalog import x --backend local ", type("catalog import x --backend l" + TAB + "\n"));
        assertEquals("catalog move x --to local ", type("catalog move x --to l" + TAB + "\n"));
        assertEquals("catalog move ", type("catalog mo" + TAB + "\n"));
        Path dir = Files.createDirectories(temp.resolve("sources/onlyone-3.0"));
        String line = type("catalog import " + temp.resolve("sources") + "/on" + TAB + "\n");
        assertTrue(line.startsWith("catalog import " + dir), line);
    }

    @Test
    void withACurrentVmTheFirstWordMayAlreadyBeAnApp() throws IOException {
        session.setCurrentVm("web1");
        assertEquals("assign greet", type("assign gr" + TAB + "\n"), "greet and greet@1.0.0");
        assertEquals("vm assign web1 greet", type("vm assign web1 gr" + TAB + "\n"));
        assertEquals("assign greet webapp", type("assign greet we" + TAB + "\n"));
    }

    @Test
    void historyPersistsAcrossTwoShellSessionsAndCtrlRSearchesIt() throws IOException {
        Path history = temp.resolve("history");
        assertEquals("catalog list", type("catalog list\n", history));
        assertEquals("vm show web1", type("vm show web1\n", history));
        assertTrue(Files.readString(history).contains("catalog list"), "saved to " + history);
        // A new session (a new reader) recalls the previous one's lines, newest first.
        assertEquals("vm show web1", type(CTRL_P + "\n", history));
        assertEquals("catalog list", type(CTRL_R + "catal\n", history));
    }

    @Test
    void aTrailingBackslashContinuesTheLine() throws Exception {
        String line = type("vm create kiosk \\\n--size 32M\n");
        assertEquals(java.util.List.of("vm", "create", "kiosk", "--size", "32M"), Words.split(line));
    }

    @Test
    void theShellRunsCommandsKeepsGoingAfterErrorsShowsTheCurrentVmAndExitsOnEof() throws IOException {
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        String keys = "vm show nosuchvm\n# a comment, as in scripts\nuse web1\nassign greet\nvm show\n";
        int code;
        try (Terminal terminal = terminal(keys, screen)) {
            code = ShellMain.interactive(new ShellMain.Options(fixture.home, false, false, null), terminal, errors,
                    fixture.env, ShellFixture.CLOCK);
        }
        String shown = screen.toString(StandardCharsets.UTF_8);
        String err = errors.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, shown + err);
        assertEquals(1, err.split("\n").length, "one line per error: " + err);
        assertTrue(err.startsWith("dcd: ") && err.contains("nosuchvm"), err);
        assertTrue(shown.contains("dcd[web1]> "), shown);
        assertTrue(shown.contains("assigned greet@1.0.0 to web1"), shown);
        assertTrue(shown.contains("greet  1.0.0"), shown);
        assertTrue(Files.readString(fixture.home.resolve("history")).contains("use web1"), "history in $DCD_HOME/history");
    }

    @Test
    void helpShowsUsageWithExamplesAndTheShellRules() throws IOException {
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        try (Terminal terminal = terminal("help\nhelp vm assign\nhelp nosuch\n", screen)) {
            ShellMain.interactive(new ShellMain.Options(fixture.home, false, false, null), terminal,
                    new ByteArrayOutputStream(), fixture.env, ShellFixture.CLOCK);
        }
        String shown = screen.toString(StandardCharsets.UTF_8);
        assertTrue(shown.contains("Ctrl-R searches history"), shown);
        assertTrue(shown.contains("Usage: dcd vm assign"), shown);
        assertTrue(shown.contains("Examples:\n  vm assign web1 greet webapp@2.1.0"), shown);
    }

    @Test
    void tablesOnANarrowTerminalAreCutToItsWidth() throws IOException {
        fixture.cli("vm", "create", "a-very-long-virtual-machine-name-that-would-not-fit-a-narrow-terminal", "--size", "64M");
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        try (Terminal terminal = terminal("vm list\n", screen)) {
            terminal.setSize(new Size(60, 20));
            ShellMain.interactive(new ShellMain.Options(fixture.home, false, false, null), terminal,
                    new ByteArrayOutputStream(), fixture.env, ShellFixture.CLOCK);
        }
        String shown = screen.toString(StandardCharsets.UTF_8);
        String row = shown.lines().filter(l -> l.startsWith("a-very-lon")).findFirst().orElseThrow(() -> new AssertionError(shown));
        assertTrue(row.length() <= 59, row);
        assertTrue(row.startsWith("a-very-lon…"), row);
    }

    @Test
    void onExitTheShellNamesTheMountsItLeavesRunning() throws IOException {
        Path records = Files.createDirectories(fixture.home.resolve("mounts"));
        Files.writeString(records.resolve("old.pid"), "vm=old\nmountpoint=/mnt/old\npid=" + ProcessHandle.current().pid() + "\n");
        java.util.SortedSet<String> atStart = Mounts.list(fixture.home);
        assertTrue(atStart.contains("/mnt/old"), atStart.toString());
        // Started during the session: one live serving process, one that has died (its record is stale).
        Files.writeString(records.resolve("web1.pid"), "vm=web1\nmountpoint=/mnt/web1\npid=" + ProcessHandle.current().pid() + "\n");
        Files.writeString(records.resolve("gone.pid"), "vm=gone\nmountpoint=/mnt/gone\npid=" + Integer.MAX_VALUE + "\n");
        java.io.StringWriter said = new java.io.StringWriter();
        try (Terminal terminal = terminal("", new ByteArrayOutputStream())) {
            new InteractiveShell(terminal, session).reportMounts(atStart, new PrintWriter(said));
        }
        assertEquals("1 mount left running: /mnt/web1; use 'umount'\n", said.toString());
    }

    @Test
    void theMountTableYieldsDcdMountpointsOnly() {
        assertEquals(java.util.Set.of("/tmp/my mnt", "/mnt/web1"), Mounts.fromMountTable(java.util.List.of(
                "dcd:web1 /tmp/my\\040mnt fuse.dcd rw,nosuid,nodev 0 0",
                "dcd:web1 /mnt/web1 fuse.dcd rw 0 0",
                "/dev/sda1 / ext4 rw 0 0",
                "fuse2fs /mnt/other fuse rw 0 0")));
    }
}
