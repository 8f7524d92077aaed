package dev.dcd.tests.scripts;

import dev.dcd.tests.lun.NbdServer;
import dev.dcd.tests.nfs.GaneshaServer;
import dev.dcd.tests.s3.S3ProxyServer;
import dev.dcd.tests.vmmount.VmCli;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Runs every {@code tests/scripts/*.dcd} through the packaged jar ({@code dcd --script}) against real servers:
 * S3Proxy, nfs-ganesha and nbdkit (a LUN per script), with real Debian packages to import. Each script gets a
 * fresh dcd home, a fresh mountpoint, its own S3 prefix, NFS directory and LUN, and the variables its header
 * lists; it must exit 0, and its whole output is shown when it does not.
 *
 * <p>A line {@code #@ ACTION SERVER} (a comment to dcd) splits a script into parts: each part runs as its own
 * {@code dcd --script} on the same home, and between two parts the harness does ACTION ({@code stop} or
 * {@code start}) to SERVER ({@code s3}, {@code nfs} or {@code lun}). That is how a script moves an app while its
 * source or target backend is down. Every script runs: none is skipped.
 */
@Timeout(3600)
class ScriptedSwitchingIT {
    static final Path REPO = Path.of(System.getProperty("dcd.repo", "..")).toAbsolutePath().normalize();
    static final Path SCRIPTS = REPO.resolve("tests").resolve("scripts");
    static final String HARNESS = "#@ ";
    private static final String BUCKET = "dcd-scripts";
    /**
     * Backend deadlines: a stopped server fails a command within seconds instead of hanging it, while S3Proxy on
     * a machine loaded twenty deep still gets the time it needs (3 s timed out an import's PUT under that load).
     */
    private static final int DEADLINE_MS = 15000;
    /** The longest read stall the scripts accept: generous, because the test machine is shared and loaded. */
    static final String MAX_STALL_MS = System.getProperty("dcd.scripts.max-stall-ms", "2000");
    private static final int SCRIPT_TIMEOUT_SECONDS = 900;

    @TempDir
    static Path dir;
    private static S3ProxyServer s3;
    private static GaneshaServer nfs;
    private static final Map<String, String> packages = new HashMap<>();

    @BeforeAll
    static void startServersAndFetchPackages() throws Exception {
        s3 = S3ProxyServer.start(Files.createDirectories(dir.resolve("s3")));
        s3.createBucket(BUCKET);
        nfs = GaneshaServer.start(dir.resolve("nfs-export"));
        Path hello = DebianPackages.get("hello");
        Path tzdata = DebianPackages.get("tzdata");
        packages.put("HELLO_DEB", hello.toString());
        packages.put("TZDATA_DEB", tzdata.toString());
        packages.put("HELLO_VERSION", VmCli.ok("dpkg-deb", "-f", hello.toString(), "Version").strip());
        packages.put("TZDATA_VERSION", VmCli.ok("dpkg-deb", "-f", tzdata.toString(), "Version").strip());
        Path unpacked = dir.resolve("unpacked");
        VmCli.ok("dpkg-deb", "-x", hello.toString(), unpacked.toString());
        VmCli.ok("dpkg-deb", "-x", tzdata.toString(), unpacked.toString());
        packages.put("HELLO_SHA256", VmCli.sha256(unpacked.resolve("usr/bin/hello")));
        packages.put("PARIS_SHA256", VmCli.sha256(unpacked.resolve("usr/share/zoneinfo/Europe/Paris")));
    }

    @AfterAll
    static void stopServers() {
        if (nfs != null) {
            nfs.close();
        }
        if (s3 != null) {
            s3.close();
        }
    }

    @TestFactory
    Stream<DynamicTest> everyScriptExitsZero() throws IOException {
        List<Path> scripts;
        try (Stream<Path> listed = Files.list(SCRIPTS)) {
            scripts = listed.filter(p -> p.getFileName().toString().endsWith(".dcd")).sorted().toList();
        }
        org.junit.jupiter.api.Assertions.assertTrue(scripts.size() >= 3, "tests/scripts holds the example scripts: " + scripts);
        return scripts.stream().map(script -> DynamicTest.dynamicTest(script.getFileName().toString(), () -> run(script)));
    }

    private void run(Path script) throws Exception {
        String text = Files.readString(script, StandardCharsets.UTF_8);
        String name = script.getFileName().toString().replaceFirst("\\.dcd$", "");
        Path work = Files.createDirectories(dir.resolve("run-" + name));
        Path home = work.resolve("home");
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        Path lunFile = work.resolve("lun.img");
        try (RandomAccessFile f = new RandomAccessFile(lunFile.toFile(), "rw")) {
            f.setLength(256L << 20);
        }
        Files.createDirectories(nfs.export().resolve(name));
        NbdServer lun = NbdServer.nbdkit(work, List.of(), "file", lunFile.toString());
        Map<String, String> env = new HashMap<>(packages);
        env.put("MNT", mnt.toString());
        env.put("MAX_STALL_MS", MAX_STALL_MS);
        env.put("S3_URI", "s3://" + BUCKET + "/" + name + "?endpoint=" + s3.endpoint()
                + "&region=us-east-1&path-style=true&deadline-ms=" + DEADLINE_MS);
        env.put("NFS_URI", nfs.uri(name, "&deadline-ms=" + DEADLINE_MS));
        env.put("LUN_URI", lun.uri("deadline-ms=" + DEADLINE_MS).toString());
        env.put("AWS_ACCESS_KEY_ID", s3.identity());
        env.put("AWS_SECRET_ACCESS_KEY", s3.credential());
        try {
            List<String> lines = text.lines().toList();
            int partStart = 0;
            for (int i = 0; i <= lines.size(); i++) {
                if (i < lines.size() && !lines.get(i).startsWith(HARNESS)) {
                    continue;
                }
                runPart(script, lines, partStart, i, work, home, env);
                if (i < lines.size()) {
                    act(lines.get(i).substring(HARNESS.length()).strip(), lun);
                }
                partStart = i + 1;
            }
        } finally {
            VmCli.quietly("java", "-jar", VmCli.JAR.toString(), "--home", home.toString(), "umount", mnt.toString());
            VmCli.quietly("fusermount", "-uz", mnt.toString());
            lun.close();
            // The next script needs every shared server up, whatever this one left behind.
            if (!s3.running()) {
                s3.restart();
            }
            if (!nfs.running()) {
                nfs.restart();
            }
        }
    }

    /**
     * Runs lines [from, to) of the script as one {@code dcd --script}. The other lines are blanked rather than
     * dropped, so an error names the line of the original script.
     */
    private static void runPart(Path script, List<String> lines, int from, int to, Path work, Path home,
                                Map<String, String> env) throws Exception {
        StringBuilder part = new StringBuilder();
        for (int i = 0; i < lines.size(); i++) {
            part.append(i >= from && i < to ? lines.get(i) : "").append('\n');
        }
        Path partDir = Files.createDirectories(work.resolve("part-" + (from + 1)));
        Path file = partDir.resolve(script.getFileName().toString());
        Files.writeString(file, part.toString(), StandardCharsets.UTF_8);
        Result r = dcdScript(home, file, env);
        // Shown for passing scripts too: the readers' reports (stalls, p99) are figures worth keeping.
        System.out.println("=== " + script.getFileName() + " lines " + (from + 1) + "-" + to + ": exit " + r.code()
                + "\n" + r.out() + r.err());
        if (r.code() != 0) {
            throw new AssertionError(script.getFileName() + " (lines " + (from + 1) + "-" + to + ") exited " + r.code()
                    + "\n--- stdout\n" + r.out() + "--- stderr\n" + r.err());
        }
    }

    private static void act(String action, NbdServer lun) throws IOException {
        switch (action) {
            case "stop s3" -> s3.stop();
            case "start s3" -> s3.restart();
            case "stop nfs" -> nfs.stop();
            case "start nfs" -> nfs.restart();
            case "stop lun" -> lun.kill();
            case "start lun" -> lun.start();
            default -> throw new AssertionError("unknown harness line '" + HARNESS + action
                    + "' (expected stop|start s3|nfs|lun)");
        }
    }

    record Result(int code, String out, String err) {
    }

    /**
     * {@code java -jar dcd.jar --home HOME --script FILE} (or other arguments) with {@code env} added. Output goes
     * to files: a mount started by the script leaves a serving process behind that inherits them.
     */
    private static Result dcdScript(Path home, Path script, Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", VmCli.JAR.toString(), "--home", home.toString()));
        if (script != null) {
            command.addAll(List.of("--script", script.toString()));
        }
        command.addAll(List.of(args));
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(command).directory(REPO.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().remove("DCD_HOME");
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(SCRIPT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", command) + " did not finish within " + SCRIPT_TIMEOUT_SECONDS
                    + " s\n--- stdout\n" + Files.readString(out) + "--- stderr\n" + Files.readString(err));
        }
        try {
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
