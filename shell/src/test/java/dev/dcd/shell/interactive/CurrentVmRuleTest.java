package dev.dcd.shell.interactive;

import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.DumbTerminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CurrentVmRuleTest {
    @TempDir
    Path temp;
    ShellFixture fixture;
    ShellSession session;
    ByteArrayOutputStream sink = new ByteArrayOutputStream();

    @BeforeEach
    void setUp() throws IOException {
        fixture = new ShellFixture(temp);
        fixture.cli("vm", "create", "db1", "--size", "64M");
        session = fixture.session(sink, sink);
    }

    @AfterEach
    void tearDown() throws IOException {
        session.close();
    }

    private List<String> rewrite(String line) throws ShellSyntaxException {
        return session.rewrite(Words.split(line));
    }

    private static List<String> words(String line) throws ShellSyntaxException {
        return Words.split(line);
    }

    @Test
    void withoutACurrentVmOnlyShortcutsAreExpanded() throws Exception {
        assertEquals(words("vm show"), rewrite("vm show"));
        assertEquals(words("vm assign greet"), rewrite("assign greet"));
        assertEquals(words("disk build web1"), rewrite("build web1"));
    }

    @Test
    void theCurrentVmFillsInWhenNoPositionalIsGiven() throws Exception {
        session.setCurrentVm("web1");
        assertEquals(words("vm show web1"), rewrite("vm show"));
        assertEquals(words("--json vm show web1"), rewrite("--json vm show"));
        assertEquals(words("disk build web1"), rewrite("build"));
        assertEquals(words("disk stat web1 --generation 2"), rewrite("disk stat --generation 2"));
    }

    @Test
    void anExplicitVmWins() throws Exception {
        session.setCurrentVm("web1");
        assertEquals(words("vm show db1"), rewrite("vm show db1"));
        assertEquals(words("vm assign db1 greet"), rewrite("assign db1 greet"));
        assertEquals(words("disk discard db1 1"), rewrite("disk discard db1 1"));
    }

    @Test
    void whenTheFirstArgumentIsNotAVmTheCurrentVmIsInsertedBeforeIt() throws Exception {
        session.setCurrentVm("web1");
        assertEquals(words("vm assign web1 greet webapp"), rewrite("assign greet webapp"));
        assertEquals(words("vm assign web1 --priority 5 greet"), rewrite("vm assign --priority 5 greet"));
        assertEquals(words("vm unassign web1 greet"), rewrite("unassign greet"));
        assertEquals(words("disk discard web1 2"), rewrite("disk discard 2"));
        assertEquals(words("disk export web1 /tmp/x.img"), rewrite("disk export /tmp/x.img"));
    }

    @Test
    void creatingRemovingAndChoosingVmsIsAlwaysExplicit() throws Exception {
        session.setCurrentVm("web1");
        assertEquals(words("vm create"), rewrite("vm create"));
        assertEquals(words("vm rm"), rewrite("vm rm"));
        assertEquals(words("use"), rewrite("use"));
        assertEquals(words("catalog list"), rewrite("catalog list"));
        assertEquals(words("vm show --help"), rewrite("vm show --help"));
    }

    /** Sleeps until interrupted; stands in for a long import or build. */
    @CommandLine.Command(name = "nap")
    static final class Nap implements java.util.concurrent.Callable<Integer> {
        static final CountDownLatch STARTED = new CountDownLatch(1);

        @Override
        public Integer call() throws Exception {
            STARTED.countDown();
            Thread.sleep(60_000);
            return 0;
        }
    }

    @Test
    void ctrlCCancelsTheRunningCommandAndTheShellKeepsGoing() throws Exception {
        session.commands().addSubcommand("nap", new Nap());
        PipedOutputStream keys = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(keys);
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        try (Terminal terminal = new DumbTerminal("test", "ansi", in, screen, StandardCharsets.UTF_8)) {
            terminal.setSize(new Size(100, 30));
            InteractiveShell shell = new InteractiveShell(terminal, session);
            int[] code = {-1};
            Thread runner = new Thread(() -> code[0] = shell.run());
            runner.start();
            keys.write("nap\n".getBytes(StandardCharsets.UTF_8));
            keys.flush();
            assertTrue(Nap.STARTED.await(20, TimeUnit.SECONDS), "nap started");
            long start = System.nanoTime();
            terminal.raise(Terminal.Signal.INT);
            keys.write("vm list\n".getBytes(StandardCharsets.UTF_8));
            keys.close();
            runner.join(20_000);
            assertTrue(!runner.isAlive(), "the shell ended at end of input");
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "cancelled, not slept out");
            String shown = screen.toString(StandardCharsets.UTF_8) + sink.toString(StandardCharsets.UTF_8);
            assertTrue(shown.contains("dcd: cancelled"), shown);
            assertTrue(shown.contains("web1"), "vm list ran after the cancelled command: " + shown);
        }
    }
}
