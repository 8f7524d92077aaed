package dev.dcd.control;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Sends one request to a server's control socket and waits a bounded time for its one-line answer. */
public final class ControlClient {
    private ControlClient() {
    }

    /** The server's answer, failed or not; {@link #ok()} says whether it starts with {@code ok}. */
    public record Answer(String line) {
        public boolean ok() {
            return line.equals("ok") || line.startsWith("ok ");
        }

        /** The text after {@code ok } or {@code error }. */
        public String detail() {
            int space = line.indexOf(' ');
            return space < 0 ? "" : line.substring(space + 1);
        }
    }

    /**
     * Sends {@code request} and returns the answer line.
     *
     * @throws IOException when nothing listens on {@code socket}, or no answer came within {@code timeout}
     */
    public static Answer request(Path socket, String request, Duration timeout) throws IOException {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new IOException("cannot open a socket: " + e.getMessage(), e);
        }
        // A blocking channel has no read timeout: the exchange runs on a daemon thread, and closing the channel
        // when the deadline passes ends it.
        CompletableFuture<String> exchange = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                channel.connect(UnixDomainSocketAddress.of(ControlSockets.connectable(socket)));
                channel.write(ByteBuffer.wrap((request + "\n").getBytes(StandardCharsets.UTF_8)));
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                        StandardCharsets.UTF_8));
                String line = in.readLine();
                if (line == null) {
                    throw new IOException("the server closed the connection without answering");
                }
                exchange.complete(line);
            } catch (IOException | RuntimeException e) {
                exchange.completeExceptionally(e);
            }
        }, "dcd-control-client");
        t.setDaemon(true);
        t.start();
        try {
            return new Answer(exchange.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            throw new IOException("no answer within " + (timeout.toMillis() % 1000 == 0 ? timeout.toSeconds() + " s"
                    : timeout.toMillis() + " ms"), e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            String message = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
            throw new IOException(message, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted waiting for " + socket);
        } finally {
            channel.close();
        }
    }

    /** True when a server answers {@code ping} on {@code socket} within {@code timeout}. */
    public static boolean answers(Path socket, Duration timeout) {
        try {
            return request(socket, "ping", timeout).ok();
        } catch (IOException e) {
            return false;
        }
    }
}
