package dev.dcd.testing;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcessRunnerTest {

    @Test
    void aChildThatFillsBothPipesFinishesBecauseBothAreDrainedWhileWaiting() {
        // 4 MiB on each stream: far past a pipe's 64 KiB, so reading one to EOF first would deadlock.
        ProcessRunner.Result r = ProcessRunner.command("bash", "-c",
                "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2; exit 3")
                .timeout(Duration.ofSeconds(60)).run();
        assertEquals(3, r.code());
        assertEquals(4 << 20, r.stdout().length);
        assertEquals(4 << 20, r.err().length());
    }

    @Test
    void stdinIsEmptySoAToolThatReadsItDoesNotWait() {
        ProcessRunner.Result r = ProcessRunner.command("cat").timeout(Duration.ofSeconds(30)).run();
        assertEquals(0, r.code());
        assertEquals("", r.out());
    }

    @Test
    void theDeadlineKillsAHungChildAndItsChildrenAndFailsNamingTheCommand() throws Exception {
        long before = System.nanoTime();
        AssertionError e = assertThrows(AssertionError.class, () -> ProcessRunner.command("bash", "-c",
                "echo started; sleep 300 & wait").timeout(Duration.ofSeconds(2)).run());
        assertTrue(e.getMessage().contains("timed out after 2 s"), e.getMessage());
        assertTrue(e.getMessage().contains("started"), e.getMessage());
        assertTrue(System.nanoTime() - before < Duration.ofSeconds(60).toNanos());
    }

    @Test
    void aMissingProgramFailsSayingSo() {
        AssertionError e = assertThrows(AssertionError.class, () -> ProcessRunner.run("no-such-tool-dcd"));
        assertTrue(e.getMessage().contains("is it installed?"), e.getMessage());
    }

    @Test
    void requireOkFailsWithTheOutput() {
        AssertionError e = assertThrows(AssertionError.class,
                () -> ProcessRunner.run("bash", "-c", "echo why >&2; exit 1").requireOk());
        assertTrue(e.getMessage().contains("exited 1: why"), e.getMessage());
    }

    @Test
    void hashesAreLowercaseHexSha256() {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Hashes.sha256("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }
}
