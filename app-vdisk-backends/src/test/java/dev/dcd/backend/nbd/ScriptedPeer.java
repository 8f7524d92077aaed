package dev.dcd.backend.nbd;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A server that plays recorded bytes: it expects exactly the client bytes of each {@code expect} step (recording
 * what really came) and answers with the bytes of each {@code send} step, over a Unix socket. A fake for unit tests
 * of the wire format; interoperability is judged against nbdkit and qemu-nbd in the integration suite.
 */
final class ScriptedPeer implements AutoCloseable {
    private record Step(boolean send, byte[] bytes, java.util.concurrent.CountDownLatch hold) {
        Step(boolean send, byte[] bytes) {
            this(send, bytes, null);
        }
    }

    private final List<Step> steps = new ArrayList<>();
    private final ServerSocketChannel server;
    private final Path socket;
    private final StringBuilder received = new StringBuilder();
    private final StringBuilder wanted = new StringBuilder();
    private CompletableFuture<Void> done;

    ScriptedPeer(Path dir) throws IOException {
        socket = dir.resolve("peer-" + System.nanoTime() + ".sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
    }

    static byte[] hex(String spaced) {
        return HexFormat.of().parseHex(spaced.replaceAll("[\\s|]", ""));
    }

    ScriptedPeer expect(String hexBytes) {
        steps.add(new Step(false, hex(hexBytes)));
        return this;
    }

    ScriptedPeer send(String hexBytes) {
        steps.add(new Step(true, hex(hexBytes)));
        return this;
    }

    ScriptedPeer send(byte[] bytes) {
        steps.add(new Step(true, bytes));
        return this;
    }

    /** Keeps the connection open and silent until {@code release} opens (a server that stopped answering). */
    ScriptedPeer hold(java.util.concurrent.CountDownLatch release) {
        steps.add(new Step(false, new byte[0], release));
        return this;
    }

    /** Starts playing; the script ends by closing the connection. */
    NbdConnection connect() throws IOException {
        done = CompletableFuture.runAsync(() -> {
            try (SocketChannel peer = server.accept()) {
                for (Step step : steps) {
                    if (step.hold() != null) {
                        try {
                            step.hold().await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        continue;
                    }
                    if (step.send()) {
                        ByteBuffer b = ByteBuffer.wrap(step.bytes());
                        while (b.hasRemaining()) {
                            peer.write(b);
                        }
                    } else {
                        wanted.append(HexFormat.of().formatHex(step.bytes()));
                        ByteBuffer b = ByteBuffer.allocate(step.bytes().length);
                        while (b.hasRemaining()) {
                            if (peer.read(b) < 0) {
                                break;
                            }
                        }
                        received.append(HexFormat.of().formatHex(b.array(), 0, b.position()));
                    }
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        return NbdConnection.over(channel, "peer");
    }

    /** Waits for the script to end; returns what the client sent against what it should have sent. */
    String[] finish() throws Exception {
        done.get(10, TimeUnit.SECONDS);
        return new String[]{wanted.toString(), received.toString()};
    }

    @Override
    public void close() throws IOException {
        server.close();
        java.nio.file.Files.deleteIfExists(socket);
    }
}
