package dev.dcd.shell.interactive;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScriptModeTest {
    @TempDir
    Path temp;
    ShellFixture dcd;

    @BeforeEach
    void setUp() throws IOException {
        dcd = new ShellFixture(temp);
    }

    @Test
    void aScriptRunsEveryCommandSkippingCommentsAndBlankLines() throws IOException {
        ShellFixture.Result r = dcd.script("ok.dcd", """
                # provision web1
                
                   # indented comment
                vm assign web1 greet
                vm show web1
                """, false);
        assertEquals(0, r.code(), r.toString());
        assertEquals("", r.err(), r.toString());
        assertTrue(r.out().startsWith("assigned greet@1.0.0 to web1 (priority 0)\n"), r.toString());
        assertTrue(r.out().contains("greet  1.0.0"), r.toString());
    }

    @Test
    void theFirstFailingCommandStopsTheScriptNamingItsLine() throws IOException {
        ShellFixture.Result r = dcd.script("fail.dcd", """
                vm assign web1 greet
                # line 2
                vm assign web1 nosuchapp
                vm assign web1 webapp
                """, false);
        assertEquals(1, r.code(), r.toString());
        String file = temp.resolve("fail.dcd").toString();
        assertEquals(file + ":3: app 'nosuchapp' is not in the catalog (see 'dcd catalog list')\n", r.err(), r.toString());
        assertFalse(r.out().contains("webapp"), "line 4 must not run: " + r);
    }

    @Test
    void keepGoingRunsPastFailuresAndStillExitsNonZero() throws IOException {
        ShellFixture.Result r = dcd.script("kg.dcd", """
                vm assign web1 nosuchapp
                vm create
                vm assign web1 webapp
                """, true);
        assertEquals(1, r.code(), "the first failure's code: " + r);
        String file = temp.resolve("kg.dcd").toString();
        String[] errors = r.err().split("\n");
        assertEquals(2, errors.length, r.toString());
        assertTrue(errors[0].startsWith(file + ":1: app 'nosuchapp' is not in the catalog"), r.toString());
        assertEquals(file + ":2: Missing required parameter: 'VM'", errors[1]);
        assertTrue(r.out().contains("assigned webapp@2.1.0 to web1"), r.toString());
    }

    @Test
    void aUsageErrorExitsWithTwo() throws IOException {
        ShellFixture.Result r = dcd.script("usage.dcd", "vm frobnicate web1\n", false);
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().startsWith(temp.resolve("usage.dcd") + ":1: "), r.toString());
        assertEquals(1, r.err().split("\n").length, "one line, no usage dump: " + r);
    }

    @Test
    void variablesComeFromTheEnvironmentAndAnUndefinedOneIsAnErrorNamingIt() throws IOException {
        dcd.env.put("TARGET_VM", "web1");
        dcd.env.put("APP", "greet");
        ShellFixture.Result ok = dcd.script("vars.dcd", "vm assign ${TARGET_VM} ${APP}\n", false);
        assertEquals(0, ok.code(), ok.toString());
        assertEquals("assigned greet@1.0.0 to web1 (priority 0)\n", ok.out());

        ShellFixture.Result bad = dcd.script("undefined.dcd", "# first\nvm show ${NO_SUCH_VARIABLE}\n", false);
        assertEquals(2, bad.code(), bad.toString());
        assertEquals(temp.resolve("undefined.dcd") + ":2: undefined variable 'NO_SUCH_VARIABLE'\n", bad.err());
    }

    @Test
    void aTrailingBackslashContinuesACommandAndErrorsNameItsFirstLine() throws IOException {
        ShellFixture.Result r = dcd.script("cont.dcd", """
                vm create kiosk \\
                    --fs fat32 \\
                    --size 40M
                vm assign kiosk \\
                    nosuchapp
                """, false);
        assertEquals(1, r.code(), r.toString());
        assertEquals("created VM kiosk (fat32, 40.0 MiB)\n", r.out());
        assertTrue(r.err().startsWith(temp.resolve("cont.dcd") + ":4: app 'nosuchapp' is not in the catalog"), r.toString());
    }

    @Test
    void useSetsTheVmThatLaterCommandsLeaveOut() throws IOException {
        ShellFixture.Result r = dcd.script("use.dcd", """
                use web1
                assign greet webapp@2.1.0
                vm show
                unassign webapp
                check output vm show contains greet
                """, false);
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("assigned greet@1.0.0 to web1"), r.toString());
        assertTrue(r.out().contains("VM web1: ext4, 64.0 MiB"), r.toString());
        assertTrue(r.out().contains("unassigned webapp from web1"), r.toString());
    }

    @Test
    void useRefusesAnUnknownVm() throws IOException {
        ShellFixture.Result r = dcd.script("use.dcd", "use nosuchvm\n", false);
        assertEquals(1, r.code(), r.toString());
        assertEquals(temp.resolve("use.dcd") + ":1: unknown VM 'nosuchvm' (see 'dcd vm list')\n", r.err());
    }

    @Test
    void checkFilePassesOnTheRightDigestAndFailsOnAWrongOne() throws IOException {
        Path file = Files.writeString(temp.resolve("data.txt"), "hello\n");
        String sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; // sha256sum of "hello\n"
        ShellFixture.Result pass = dcd.script("pass.dcd", "check file " + file + " exists\ncheck file " + file + " sha256 " + sha + "\n", false);
        assertEquals(0, pass.code(), pass.toString());
        assertEquals("ok: " + file + " exists\nok: " + file + " sha256 " + sha + "\n", pass.out());

        String wrong = "0".repeat(64);
        ShellFixture.Result fail = dcd.script("fail.dcd", "check file " + file + " sha256 " + wrong + "\n", false);
        assertEquals(1, fail.code(), fail.toString());
        assertEquals(temp.resolve("fail.dcd") + ":1: check failed: " + file + " has sha256 " + sha + ", expected " + wrong + "\n",
                fail.err());

        ShellFixture.Result missing = dcd.script("missing.dcd", "check file " + temp.resolve("nope") + " exists\n", false);
        assertEquals(1, missing.code(), missing.toString());
        assertTrue(missing.err().endsWith(":1: check failed: " + temp.resolve("nope") + " does not exist\n"), missing.toString());
    }

    @Test
    void checkFailsPassesWhenTheCommandFailsAndFailsWhenItSucceeds() throws IOException {
        ShellFixture.Result pass = dcd.script("pass.dcd", "check fails vm create web1 --size 64M\n", false);
        assertEquals(0, pass.code(), pass.toString());
        assertEquals("ok: 'vm create web1 --size 64M' failed (exit 1): VM 'web1' already exists\n", pass.out());

        ShellFixture.Result fail = dcd.script("fail.dcd", "check fails vm show web1\n", false);
        assertEquals(1, fail.code(), fail.toString());
        assertEquals(temp.resolve("fail.dcd") + ":1: check failed: 'vm show web1' succeeded\n", fail.err());
        assertEquals("", fail.out(), "a checked command's output is captured, not shown");
    }

    @Test
    void checkExitAndCheckOutputCompareCodeAndText() throws IOException {
        ShellFixture.Result pass = dcd.script("pass.dcd", """
                check exit 2 vm create
                check exit 0 catalog list
                check output catalog list --json contains "webapp"
                """, false);
        assertEquals(0, pass.code(), pass.toString());
        assertEquals(3, pass.out().split("\n").length, pass.toString());

        ShellFixture.Result wrongCode = dcd.script("code.dcd", "check exit 0 vm create\n", false);
        assertEquals(1, wrongCode.code(), wrongCode.toString());
        assertTrue(wrongCode.err().contains(":1: check failed: 'vm create' exited 2, expected 0"), wrongCode.toString());

        ShellFixture.Result wrongText = dcd.script("text.dcd", "check output catalog list contains firefox\n", false);
        assertEquals(1, wrongText.code(), wrongText.toString());
        assertEquals(temp.resolve("text.dcd") + ":1: check failed: output of 'catalog list' does not contain 'firefox'\n",
                wrongText.err());
    }

    @Test
    void aMalformedCheckIsAUsageError() throws IOException {
        ShellFixture.Result r = dcd.script("bad.dcd", "check file x sha256 nothex\n", false);
        assertEquals(2, r.code(), r.toString());
        assertTrue(r.err().contains(":1: sha256 must be 64 hex digits, got 'nothex'"), r.toString());
        assertEquals(2, dcd.script("bad2.dcd", "check frobnicate\n", false).code());
    }

    @Test
    void jsonOnOneCommandDoesNotLeakIntoTheNext() throws IOException {
        ShellFixture.Result r = dcd.script("json.dcd", "--json vm list\nvm list\n", false);
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().startsWith("["), r.toString());
        assertTrue(r.out().contains("\nVM    FS"), r.toString());
    }

    @Test
    void commandsFromStdinRunAsAScriptNamedStdin() {
        ShellFixture.Result r = dcd.stdin("vm list\nvm show nosuchvm\nvm list\n");
        assertEquals(1, r.code(), r.toString());
        assertTrue(r.err().startsWith("<stdin>:2: "), r.toString());
        assertEquals(1, r.out().split("\n").length - 1, "only the first vm list ran: " + r);
    }

    @Test
    void exitEndsAScriptEarly() throws IOException {
        ShellFixture.Result r = dcd.script("exit.dcd", "vm list\nexit 3\nvm list\n", false);
        assertEquals(3, r.code(), r.toString());
    }

    @Test
    void tablesInScriptsAreNeverCut() throws IOException {
        dcd.cli("vm", "create", "a-very-long-virtual-machine-name-that-would-not-fit-a-narrow-terminal", "--size", "64M");
        ShellFixture.Result r = dcd.script("t.dcd", "vm list\n", false);
        assertTrue(r.out().contains("a-very-long-virtual-machine-name-that-would-not-fit-a-narrow-terminal"), r.toString());
    }

    @Test
    void theShellIsWhatDcdDoesWithoutACommandWithShellOrWithScript() {
        assertTrue(ShellFixture.options().isPresent());
        assertTrue(ShellFixture.options("shell").isPresent());
        assertTrue(ShellFixture.options("--home", "/tmp/h", "--debug", "shell").isPresent());
        assertEquals("f.dcd", ShellFixture.options("--script", "f.dcd", "--keep-going").orElseThrow().script());
        assertTrue(ShellFixture.options("--keep-going", "--script=f.dcd").orElseThrow().keepGoing());
        assertFalse(ShellFixture.options("vm", "list").isPresent());
        assertFalse(ShellFixture.options("--help").isPresent());
        assertFalse(ShellFixture.options("--json", "catalog", "list").isPresent());
        assertFalse(ShellFixture.options("shell", "shell").isPresent());
    }

    @Test
    void theSampleProvisioningScriptRunsCleanly() throws IOException {
        // The shell's tests have a stand-in synthesizer, so 'build' and 'disk export' really run here.
        Path repo = Path.of("..").toAbsolutePath().normalize();
        dcd.env.put("SAMPLES", repo.resolve("samples").toString());
        dcd.env.put("OUT", temp.toString());
        dcd.env.put("DCD_HOME", temp.resolve("fresh-home").toString());
        Path script = repo.resolve("samples/scripts/provision-demo.dcd");
        ShellFixture.Result r = dcd.run(new ShellMain.Options(null, false, false, script.toString()), "");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("built demo-web generation 1"), r.toString());
        assertTrue(r.out().contains("ok: " + temp.resolve("demo-web.img") + " exists"), r.toString());
        assertTrue(Files.size(temp.resolve("demo-web.img")) == 64L << 20, r.toString());
    }

    @Test
    void debugAddsTheStackTraceToTheOneLineError() throws IOException {
        Path script = Files.writeString(temp.resolve("debug.dcd"), "vm show nosuchvm\n");
        ShellFixture.Result plain = dcd.run(new ShellMain.Options(null, false, false, script.toString()), "");
        assertEquals(1, plain.err().split("\n").length, plain.toString());
        ShellFixture.Result debug = dcd.run(new ShellMain.Options(null, true, false, script.toString()), "");
        assertEquals(1, debug.code(), debug.toString());
        assertTrue(debug.err().contains("\tat dev.dcd.catalog.Catalog.requireVm"), debug.toString());
        assertTrue(debug.err().endsWith(script + ":1: unknown VM 'nosuchvm' (see 'dcd vm list')\n"), debug.toString());
    }

    @Test
    void aMissingScriptIsAUsageError() {
        ShellFixture.Result r = dcd.run(new ShellMain.Options(null, false, false, temp.resolve("nope.dcd").toString()), "");
        assertEquals(2, r.code(), r.toString());
        assertEquals("dcd: no such script: " + temp.resolve("nope.dcd") + "\n", r.err());
    }
}
