package dev.dcd.backend.nbd;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A small NBD server for the client's pipelining tests, over a Unix socket: it plays the recorded handshake of
 * {@link NbdConnectionTest} and then answers reads with bytes that name their own offset ({@link #byteAt}), in the
 * order and batches a {@link Policy} decides for each connection. Unlike {@link ScriptedPeer} it does not fix the
 * order of requests, so several client threads may race.
 */
final class ReplyingPeer implements AutoCloseable {
    /** What one connection does with the requests it has received and not answered yet. */
    interface Policy {
        /**
         * Called after each request arrives with all held so far (oldest first): returns those to answer now, in
         * the order to answer them, or null to drop the connection without answering any.
         */
        List<long[]> answer(List<long[]> held);
    }

    private final ServerSocketChannel server;
    private final Path socket;
    private final List<Policy> policies;
    private final AtomicInteger accepted = new AtomicInteger();
    /** Most requests held unanswered on one connection at once, over all connections. */
    final AtomicInteger mostHeld = new AtomicInteger();
    private final List<SocketChannel> open = Collections.synchronizedList(new ArrayList<>());
    private final Thread acceptor;

    /** {@code policies.get(i)} serves the i-th connection; the last one serves any after it. */
    ReplyingPeer(Path dir, List<Policy> policies) throws IOException {
        this.policies = List.copyOf(policies);
        socket = dir.resolve("replying-" + System.nanoTime() + ".sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        acceptor = new Thread(this::acceptLoop, "replying-peer");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Answers every request as soon as it arrives. */
    static Policy prompt() {
        return held -> List.copyOf(held);
    }

    /** Holds requests until {@code n} are in, then answers them last first. */
    static Policy batchesReversed(int n) {
        return held -> {
            if (held.size() < n) {
                return List.of();
            }
            List<long[]> out = new ArrayList<>(held);
            Collections.reverse(out);
            return out;
        };
    }

    /** Takes {@code n} requests, then hangs up without answering any. */
    static Policy dropAfter(int n) {
        return held -> held.size() < n ? List.of() : null;
    }

    static byte byteAt(long offset) {
        return (byte) (offset * 31 + (offset >>> 8));
    }

    NbdConnection connect() throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        return NbdConnection.over(channel, "peer");
    }

    int connections() {
        return accepted.get();
    }

    private void acceptLoop() {
        while (true) {
            SocketChannel peer;
            try {
                peer = server.accept();
            } catch (IOException e) {
                return;
            }
            open.add(peer);
            int index = accepted.getAndIncrement();
            Policy policy = policies.get(Math.min(index, policies.size() - 1));
            Thread t = new Thread(() -> serve(peer, policy), "replying-peer-" + index);
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(SocketChannel peer, Policy policy) {
        try (peer) {
            write(peer, ScriptedPeer.hex(NbdConnectionTest.GREETING));
            read(peer, ScriptedPeer.hex(NbdConnectionTest.CLIENT_GO).length);
            write(peer, ScriptedPeer.hex(NbdConnectionTest.INFO_EXPORT));
            write(peer, ScriptedPeer.hex(NbdConnectionTest.INFO_BLOCK));
            write(peer, ScriptedPeer.hex(NbdConnectionTest.ACK));
            List<long[]> held = new ArrayList<>();
            while (true) {
                ByteBuffer request = read(peer, 28);
                if (request == null) {
                    return;
                }
                request.getInt();
                request.getShort();
                int type = request.getShort();
                long handle = request.getLong();
                long offset = request.getLong();
                int length = request.getInt();
                if (type != NbdProtocol.CMD_READ) {
                    return;
                }
                held.add(new long[] {handle, offset, length});
                mostHeld.accumulateAndGet(held.size(), Math::max);
                List<long[]> now = policy.answer(held);
                if (now == null) {
                    return;
                }
                for (long[] r : now) {
                    ByteBuffer reply = ByteBuffer.allocate(16 + (int) r[2]);
                    reply.putInt(NbdProtocol.SIMPLE_REPLY_MAGIC).putInt(0).putLong(r[0]);
                    for (int i = 0; i < r[2]; i++) {
                        reply.put(byteAt(r[1] + i));
                    }
                    write(peer, reply.array());
                    held.remove(r);
                }
            }
        } catch (IOException e) {
            // The client went away.
        }
    }

    private static void write(SocketChannel peer, byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            peer.write(b);
        }
    }

    private static ByteBuffer read(SocketChannel peer, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (peer.read(b) < 0) {
                return null;
            }
        }
        return b.flip();
    }

    @Override
    public void close() throws IOException {
        server.close();
        synchronized (open) {
            for (SocketChannel c : open) {
                c.close();
            }
        }
        Files.deleteIfExists(socket);
    }
}
