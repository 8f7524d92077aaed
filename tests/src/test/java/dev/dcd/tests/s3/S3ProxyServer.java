package dev.dcd.tests.s3;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real S3Proxy (filesystem storage) in its own process on 127.0.0.1, for integration tests and benchmarks.
 *
 * <p>The jar comes from the {@code s3proxy.jar} system property (set by the tests module's failsafe
 * configuration; Maven fetches the jar during generate-test-resources). A missing jar is an error, never a
 * skip. {@link #stop()} and {@link #restart()} keep the port and the storage directory, so outage tests can
 * take the server away and bring the same data back.
 */
public final class S3ProxyServer implements AutoCloseable {
    public static final String IDENTITY = "DCDTESTIDENTITY0001";
    public static final String CREDENTIAL = "dcd-test-credential-7f3a9c1e5b";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    private final Path jar;
    private final Path dir;
    private final Path basedir;
    private final Path properties;
    private final Path log;
    private final int port;
    private Process process;

    private S3ProxyServer(Path jar, Path dir, int port) throws IOException {
        this.jar = jar;
        this.dir = dir;
        this.basedir = dir.resolve("data");
        this.properties = dir.resolve("s3proxy.properties");
        this.log = dir.resolve("s3proxy.log");
        this.port = port;
        Files.createDirectories(basedir);
        Files.writeString(properties, String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + IDENTITY,
                "s3proxy.credential=" + CREDENTIAL,
                "jclouds.provider=filesystem",
                "jclouds.filesystem.basedir=" + basedir,
                ""), StandardCharsets.UTF_8);
    }

    /** Starts a server whose files live under {@code dir} (which the caller owns and cleans up). */
    public static S3ProxyServer start(Path dir) throws IOException {
        S3ProxyServer server = new S3ProxyServer(jarFromSystemProperty(), dir, freePort());
        server.launch();
        return server;
    }

    public static Path jarFromSystemProperty() {
        String value = System.getProperty("s3proxy.jar");
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("system property s3proxy.jar is not set; run through Maven "
                    + "(mvn -pl tests verify), which fetches S3Proxy into tests/target/servers/s3proxy.jar");
        }
        Path path = Path.of(value);
        if (!Files.isRegularFile(path)) {
            throw new IllegalStateException("S3Proxy jar " + path + " does not exist; run mvn -pl tests generate-test-resources");
        }
        return path;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private synchronized void launch() throws IOException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("S3Proxy already running on port " + port);
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder builder = new ProcessBuilder(List.of(java, "-Xmx512m", "-XX:+UseSerialGC",
                "-jar", jar.toString(), "--properties", properties.toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        // Quiet logs keep the request path cheap.
        builder.environment().put("LOG_LEVEL", "warn");
        builder.environment().put("JETTY_LOG_LEVEL", "warn");
        process = builder.start();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!answers()) {
            if (!process.isAlive()) {
                throw new IOException("S3Proxy exited with status " + process.exitValue() + " during start; log "
                        + log + ":\n" + tail());
            }
            if (System.nanoTime() > deadline) {
                stop();
                throw new IOException("S3Proxy did not answer on port " + port + " within " + START_TIMEOUT + "; log:\n" + tail());
            }
            sleep(100);
        }
    }

    private boolean answers() {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private String tail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Stops the process (by its pid: destroy, then destroyForcibly) and waits until the port is closed. */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        ProcessHandle handle = process.toHandle();
        try {
            handle.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                handle.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            handle.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        process = null;
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (answers() && System.nanoTime() < deadline) {
            sleep(50);
        }
    }

    /** Starts the server again on the same port with the same storage. */
    public synchronized void restart() throws IOException {
        stop();
        launch();
    }

    public synchronized boolean running() {
        return process != null && process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + port);
    }

    public int port() {
        return port;
    }

    /** Where the filesystem provider keeps buckets (one directory each) and objects (files under them). */
    public Path basedir() {
        return basedir;
    }

    public Path log() {
        return log;
    }

    public String identity() {
        return IDENTITY;
    }

    public String credential() {
        return CREDENTIAL;
    }

    /** An S3 client with the server's credentials, for test set-up and inspection (not the backend under test). */
    public S3Client client() {
        return S3Client.builder()
                .endpointOverride(endpoint())
                .region(Region.US_EAST_1)
                .forcePathStyle(true)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(IDENTITY, CREDENTIAL)))
                .httpClient(ApacheHttpClient.builder().build())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
    }

    public void createBucket(String bucket) {
        try (S3Client client = client()) {
            client.createBucket(b -> b.bucket(bucket));
        }
    }

    /** Exposes the credentials through the AWS default chain of this JVM (the backend finds them there). */
    public void exportCredentialsAsSystemProperties() {
        System.setProperty("aws.accessKeyId", IDENTITY);
        System.setProperty("aws.secretAccessKey", CREDENTIAL);
    }

    @Override
    public void close() {
        stop();
    }

    @Override
    public String toString() {
        return "S3Proxy at " + endpoint() + " (data " + basedir + ")";
    }

    /** Unchecked start for static initialisers. */
    public static S3ProxyServer startUnchecked(Path dir) {
        try {
            return start(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
