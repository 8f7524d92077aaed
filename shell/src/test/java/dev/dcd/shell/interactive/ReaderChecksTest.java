package dev.dcd.shell.interactive;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code check reader}, {@code check backend} and the reader commands in a shell session, without a mount. */
@Timeout(60)
class ReaderChecksTest {
    @TempDir
    Path temp;
    ShellFixture fixture;
    ShellSession session;
    ByteArrayOutputStream errSink = new ByteArrayOutputStream();

    @BeforeEach
    void setUp() throws IOException {
        fixture = new ShellFixture(temp);
        session = fixture.session(new ByteArrayOutputStream(), errSink);
    }

    @AfterEach
    void tearDown() throws IOException {
        session.close();
    }

    private ShellSession.Captured run(String line) throws ShellSyntaxException {
        return session.capture(Words.split(line));
    }

    /** A reader named {@code name} over one file whose manifest hash is right, or deliberately wrong. */
    private BackgroundReader startReader(String name, boolean wrongHash) throws Exception {
        byte[] content = "the bytes the app shipped\n".getBytes(StandardCharsets.UTF_8);
        Path file = Files.createDirectories(temp.resolve("mnt-" + name + "/files")).resolve("app.txt");
        Files.write(file, content);
        byte[] sha = MessageDigest.getInstance("SHA-256").digest(content);
        if (wrongHash) {
            sha[0] ^= 1;
        }
        BackgroundReader reader = BackgroundReader.builder()
                .items(List.of(new BackgroundReader.FileItem(file, "files/app.txt", content.length, sha))).build();
        session.readers().add(new Readers.Entry(name, new ReaderTargets.Mount("web1", temp.resolve("mnt-" + name), 1),
                reader, 1, 0));
        reader.start(name);
        assertTrue(reader.awaitPasses(2, Duration.ofSeconds(30)));
        return reader;
    }

    @Test
    void readerFiguresPassOrFailTheirCheck() throws Exception {
        startReader("r1", false);
        ShellSession.Captured ok = run("check reader r1 errors == 0");
        assertEquals(0, ok.code(), ok.err());
        assertEquals("ok: reader r1 errors 0 == 0\n", ok.out());
        assertEquals(0, run("check reader r1 passes >= 2").code());
        assertEquals(0, run("check reader r1 reads > 0").code());
        assertEquals(0, run("check reader r1 stall-ms <= 60000").code());
        assertEquals(0, run("check reader r1 verified != 0").code());

        ShellSession.Captured failed = run("check reader r1 errors > 0");
        assertEquals(1, failed.code());
        assertEquals("check failed: reader r1 errors 0, expected > 0", failed.firstErrorLine());
        assertEquals(1, run("check reader r1 reads < 1").code());
        assertEquals(1, run("check reader r1 stall-ms > 60000").code());
    }

    @Test
    void aFailedReaderCheckQuotesTheFirstError() throws Exception {
        startReader("bad", true);
        ShellSession.Captured failed = run("check reader bad errors == 0");
        assertEquals(1, failed.code());
        assertTrue(failed.firstErrorLine().startsWith("check failed: reader bad errors "), failed.firstErrorLine());
        assertTrue(failed.firstErrorLine().contains(", expected == 0 (first error: files/app.txt: sha256 "),
                failed.firstErrorLine());
    }

    @Test
    void stoppedReadersKeepTheirFinalFiguresForChecks() throws Exception {
        startReader("r1", false);
        ShellSession.Captured stop = run("reader stop r1");
        assertEquals(0, stop.code(), stop.err());
        assertTrue(stop.out().startsWith("reader r1 on VM web1 ("), stop.out());
        assertTrue(stop.out().contains(": stopped after "), stop.out());
        assertTrue(stop.out().contains(" 0 errors, longest stall "), stop.out());
        assertEquals(0, run("check reader r1 errors == 0").code());
        ShellSession.Captured json = run("reader status r1 --json");
        assertEquals(0, json.code(), json.err());
        assertTrue(json.out().contains("\"running\" : false"), json.out());
        assertTrue(json.out().contains("\"stallMs\" : "), json.out());
        ShellSession.Captured wait = run("reader wait r1");
        assertEquals(1, wait.code());
        assertEquals("reader 'r1' is stopped", wait.firstErrorLine());
    }

    @Test
    void malformedReaderChecksAreUsageErrorsAndUnknownReadersFailures() throws Exception {
        startReader("r1", false);
        assertEquals(2, run("check reader r1 errors = 0").code());
        assertEquals(2, run("check reader r1 speed == 0").code());
        assertEquals(2, run("check reader r1 errors == none").code());
        assertEquals(2, run("check reader r1 errors").code());
        ShellSession.Captured unknown = run("check reader r2 errors == 0");
        assertEquals(1, unknown.code());
        assertEquals("no reader 'r2' (readers: r1)", unknown.firstErrorLine());
    }

    @Test
    void checkBackendAsksTheCatalog() throws Exception {
        ShellSession.Captured ok = run("check backend greet@1.0.0 is local");
        assertEquals(0, ok.code(), ok.err());
        assertEquals("ok: greet@1.0.0 is on backend local\n", ok.out());
        assertEquals(0, run("check backend greet is local").code(), "the newest version without @VER");
        ShellSession.Captured wrong = run("check backend greet@1.0.0 is s3");
        assertEquals(1, wrong.code());
        assertEquals("check failed: greet@1.0.0 is on backend local, expected s3", wrong.firstErrorLine());
        assertEquals(1, run("check backend nosuch is local").code());
        assertEquals(2, run("check backend greet local").code());
    }

    @Test
    void readerCommandsSayWhatIsMissingInOneLine() throws Exception {
        ShellSession.Captured notMounted = run("reader start web1");
        assertEquals(1, notMounted.code());
        assertEquals("VM 'web1' is not mounted; mount it first with 'dcd mount web1 DIR'", notMounted.firstErrorLine());
        assertEquals("'nope' is neither a mounted VM nor the mountpoint of one (see 'dcd stats')",
                run("reader start r1 nope").firstErrorLine());
        assertEquals("no reader; start one with 'reader start VM'", run("reader stop").firstErrorLine());
        assertEquals(2, run("reader start").code(), "no VM and no current VM");
        assertEquals(2, run("reader start r1 web1 --threads 0").code());
        assertFalse(errSink.toString(StandardCharsets.UTF_8).contains("Exception"));
    }

    @Test
    void closingTheSessionStopsReadersStillRunning() throws Exception {
        BackgroundReader reader = startReader("r1", false);
        session.close();
        assertFalse(reader.running());
        assertTrue(errSink.toString(StandardCharsets.UTF_8).contains("dcd: warning: reader 'r1' was still running; stopped"),
                errSink.toString(StandardCharsets.UTF_8));
    }
}
