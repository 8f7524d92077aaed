package dev.dcd.control;

import dev.dcd.vdisk.ContentId;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The control channel of one running server (a FUSE mount or an NBD server): a Unix domain socket only its owner
 * may use, answering one-line requests with one-line answers, so that commands such as {@code catalog move} can
 * tell a server what changed and learn when it has acted. The protocol (docs/control-channel.md):
 *
 * <pre>
 *   ping                      -> ok pong
 *   status                    -> ok vm=VM generation=N pid=P apps=APP@VER:BACKEND,...
 *   reads CONTENT-ID          -> ok from BACKEND | ok unused | error MESSAGE
 *   resolve CONTENT-ID BACKEND -> ok switched | ok unused | error MESSAGE
 *   record CONTENT-ID SECONDS  -> ok recorded CHUNKS | ok nothing | ok unused | error MESSAGE
 * </pre>
 *
 * A connection may send several requests, one per line. {@code resolve} answers {@code ok switched} only once the
 * server reads the vdisk from the new backend; {@code ok unused} when it does not read that vdisk at all.
 * Anything else gets {@code error ...}, and the connection stays usable.
 */
public final class ControlServer implements Closeable {
    /** Longest request line accepted; a request is a few words. */
    static final int MAX_LINE = 1024;

    /** What the server does for each request; runs on a connection's thread, several at once. */
    public interface Handler {
        /** {@code vm=... generation=... apps=...}: what the server serves now. */
        String status();

        /**
         * Reads vdisk {@code id} from {@code backend} from now on, opening and checking it first.
         *
         * @return false when this server does not read that vdisk
         * @throws IOException with a one-line message when the switch cannot be made (the old backend still serves)
         */
        boolean resolve(ContentId id, String backend) throws IOException;

        /**
         * The catalog backend this server reads vdisk {@code id} from now, or null when it does not read that vdisk.
         * {@code catalog gc} asks before it deletes a copy the catalog names on another backend.
         *
         * @throws IOException when it cannot say (the asker then takes it that the server may read any copy)
         */
        default String readsFrom(ContentId id) throws IOException {
            throw new IOException("this server cannot say which backend it reads a vdisk from");
        }

        /**
         * Records the reads of vdisk {@code id} from now for {@code window} and stores them as its prefetch list in
         * place of any; returns once stored.
         *
         * @return the chunks stored; 0 when nothing of the vdisk was read (its list unchanged); -1 when this server
         *         does not read that vdisk
         * @throws IOException with a one-line message when it cannot record it
         */
        default int record(ContentId id, Duration window) throws IOException {
            throw new IOException("this server cannot record prefetch lists");
        }
    }

    /** Longest recording window a {@code record} request may ask for. */
    public static final int MAX_RECORD_SECONDS = 3600;

    private final Path path;
    private final ServerSocketChannel channel;
    private final Handler handler;
    private final Thread acceptor;
    private volatile boolean closed;
    /** The usual name linked to {@link #path} when that is a short path (a deep home); null otherwise. */
    private volatile Path link;

    private ControlServer(Path path, ServerSocketChannel channel, Handler handler) {
        this.path = path;
        this.channel = channel;
        this.handler = handler;
        AtomicInteger n = new AtomicInteger();
        this.acceptor = new Thread(() -> acceptLoop(n), "dcd-control-" + path.getFileName());
        this.acceptor.setDaemon(true);
    }

    /**
     * Listens on the control socket of a {@code kind} server of {@code vm} under {@code home}. A socket file left
     * by a server that died is replaced; one a live server still answers on is refused.
     */
    public static ControlServer start(Path home, String kind, String vm, Handler handler) throws IOException {
        ControlSockets.createDir(home);
        Path name = ControlSockets.socket(home, kind, vm);
        if (ControlSockets.fits(name)) {
            return start(name, handler);
        }
        // Too deep a home for a socket path: listen at a short one and link it from the usual name, where clients
        // list and find it (a live server there answers through the link, and start refuses to replace it).
        Path shortPath = ControlSockets.shortSocket(home, kind, vm);
        ControlServer server = start(shortPath, handler);
        try {
            Files.deleteIfExists(name);
            Files.createSymbolicLink(name, shortPath);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw new IOException("cannot link " + name + " to control socket " + shortPath + ": " + e.getMessage(), e);
        }
        server.link = name;
        return server;
    }

    /** Listens on {@code path} (its directory must exist and should be owner-only). */
    public static ControlServer start(Path path, Handler handler) throws IOException {
        if (Files.exists(path)) {
            if (ControlClient.answers(path, Duration.ofSeconds(2))) {
                throw new IOException("another server already listens on " + path);
            }
            Files.deleteIfExists(path);
        }
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw new IOException("cannot listen on control socket " + path + ": " + e.getMessage(), e);
        }
        ControlServer server = new ControlServer(path, channel, handler);
        server.acceptor.start();
        return server;
    }

    public Path path() {
        return path;
    }

    private void acceptLoop(AtomicInteger n) {
        while (!closed) {
            SocketChannel client;
            try {
                client = channel.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("dcd: control socket " + path + ": " + e.getMessage());
                }
                return;
            }
            Thread t = new Thread(() -> serve(client), "dcd-control-conn-" + n.incrementAndGet());
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(SocketChannel client) {
        try (client;
             BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                     StandardCharsets.UTF_8), MAX_LINE);
             OutputStream out = Channels.newOutputStream(client)) {
            String line;
            while ((line = readLine(in)) != null) {
                out.write((answer(line) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        } catch (IOException e) {
            // The client went away mid-request; nothing to answer.
        }
    }

    /** A line of at most {@link #MAX_LINE} characters, or null at the end of the stream. */
    private static String readLine(BufferedReader in) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                return line.toString();
            }
            if (line.length() >= MAX_LINE) {
                throw new IOException("request line too long");
            }
            line.append((char) c);
        }
        return line.length() == 0 ? null : line.toString();
    }

    /** One answer per request line; never throws, so one bad request does not end the connection. */
    String answer(String line) {
        String[] words = line.strip().split("\\s+");
        try {
            switch (words[0]) {
                case "ping":
                    return "ok pong";
                case "status":
                    return "ok " + handler.status();
                case "resolve":
                    if (words.length != 3) {
                        return "error usage: resolve CONTENT-ID BACKEND";
                    }
                    ContentId id;
                    try {
                        id = new ContentId(words[1]);
                    } catch (IllegalArgumentException e) {
                        return "error not a content id: " + words[1];
                    }
                    return handler.resolve(id, words[2]) ? "ok switched" : "ok unused";
                case "reads":
                    if (words.length != 2) {
                        return "error usage: reads CONTENT-ID";
                    }
                    ContentId read;
                    try {
                        read = new ContentId(words[1]);
                    } catch (IllegalArgumentException e) {
                        return "error not a content id: " + words[1];
                    }
                    String from = handler.readsFrom(read);
                    return from == null ? "ok unused" : "ok from " + from;
                case "record":
                    if (words.length != 3) {
                        return "error usage: record CONTENT-ID SECONDS";
                    }
                    ContentId vdisk;
                    try {
                        vdisk = new ContentId(words[1]);
                    } catch (IllegalArgumentException e) {
                        return "error not a content id: " + words[1];
                    }
                    int seconds;
                    try {
                        seconds = Integer.parseInt(words[2]);
                    } catch (NumberFormatException e) {
                        seconds = -1;
                    }
                    if (seconds < 1 || seconds > MAX_RECORD_SECONDS) {
                        return "error the recording window must be 1 to " + MAX_RECORD_SECONDS + " seconds, not '"
                                + words[2] + "'";
                    }
                    int chunks = handler.record(vdisk, Duration.ofSeconds(seconds));
                    return chunks < 0 ? "ok unused" : chunks == 0 ? "ok nothing" : "ok recorded " + chunks;
                default:
                    return "error unknown request '" + words[0] + "' (ping, status, resolve, reads, record)";
            }
        } catch (IOException | RuntimeException e) {
            String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            return "error " + message.replace('\n', ' ');
        }
    }

    /** Stops listening and removes the socket file; requests being answered finish on their own threads. */
    @Override
    public void close() throws IOException {
        closed = true;
        channel.close();
        Files.deleteIfExists(path);
        Path name = link;
        if (name != null) {
            try {
                // Only our own link: a later server of the same VM may have replaced it meanwhile.
                if (Files.isSymbolicLink(name) && name.resolveSibling(Files.readSymbolicLink(name)).equals(path)) {
                    Files.deleteIfExists(name);
                }
            } catch (java.nio.file.NoSuchFileException e) {
                // removed already
            }
        }
    }
}
