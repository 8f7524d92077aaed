package dev.dcd.nbd;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where an NBD server listens: {@code unix:PATH} (a socket only its owner may connect to) or
 * {@code tcp://HOST:PORT} (port 0 picks a free one). Parsed from what the user typed; errors say what to type.
 */
public record NbdEndpoint(Path socket, String host, int port) {
    static final String UNIX_PREFIX = "unix:";
    static final String TCP_PREFIX = "tcp://";

    public static NbdEndpoint unix(Path socket) {
        return new NbdEndpoint(socket.toAbsolutePath().normalize(), null, -1);
    }

    public static NbdEndpoint tcp(String host, int port) {
        return new NbdEndpoint(null, host, port);
    }

    /** @throws IllegalArgumentException with one line saying what is wrong and what is accepted */
    public static NbdEndpoint parse(String spec) {
        String usage = " (use unix:PATH or tcp://127.0.0.1:PORT)";
        if (spec.startsWith(UNIX_PREFIX) && !spec.startsWith(UNIX_PREFIX + "//")) {
            String path = spec.substring(UNIX_PREFIX.length());
            if (path.isEmpty()) {
                throw new IllegalArgumentException("--nbd " + spec + ": no socket path" + usage);
            }
            return unix(Path.of(path));
        }
        if (spec.startsWith(TCP_PREFIX)) {
            URI uri;
            try {
                uri = new URI(spec);
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("--nbd " + spec + ": not a valid address" + usage);
            }
            if (uri.getHost() == null || uri.getPort() < 0 || (uri.getPath() != null && !uri.getPath().isEmpty())
                    || uri.getQuery() != null) {
                throw new IllegalArgumentException("--nbd " + spec + ": needs a host and a port" + usage);
            }
            String host = uri.getHost();
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            return tcp(host, uri.getPort());
        }
        throw new IllegalArgumentException("--nbd " + spec + ": unknown address" + usage);
    }

    public boolean isUnix() {
        return socket != null;
    }

    /** Binds a listening channel; a Unix socket is made owner-only and replaces a stale socket file. */
    ServerSocketChannel bind() throws IOException {
        if (isUnix()) {
            Path parent = socket.getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            clearStaleSocket();
            ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.bind(UnixDomainSocketAddress.of(socket));
                Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            return channel;
        }
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.bind(new InetSocketAddress(address(), port));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        return channel;
    }

    /** Bytes in a sun_path, including its terminating NUL. */
    static final int UNIX_PATH_MAX = 108;
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    /**
     * A socket file left by a server that died is removed; one a live server answers on, or a file that is
     * not a socket, is refused rather than taken over.
     */
    private void clearStaleSocket() throws IOException {
        int length = socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (length >= UNIX_PATH_MAX) {
            throw new IOException("socket path " + socket + " is " + length + " bytes; Unix sockets allow "
                    + (UNIX_PATH_MAX - 1) + " (choose a shorter --nbd unix:PATH)");
        }
        if (!Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(socket, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IOException(socket + " exists and is not a socket; choose another --nbd unix:PATH");
        }
        try (java.nio.channels.SocketChannel probe = java.nio.channels.SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            throw new IOException("socket " + socket + " is in use by another server");
        } catch (java.net.ConnectException e) {
            Files.delete(socket);
        }
    }

    private InetAddress address() throws UnknownHostException {
        return InetAddress.getByName(host);
    }

    /** The NBD URI (the nbd-uri standard that qemu and libnbd read) of this endpoint serving {@code export}. */
    String uri(String export, int boundPort) {
        String name = java.net.URLEncoder.encode(export, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20");
        if (isUnix()) {
            return "nbd+unix:///" + name + "?socket=" + socket;
        }
        String h = host.contains(":") ? "[" + host + "]" : host;
        return "nbd://" + h + ":" + boundPort + "/" + name;
    }

    @Override
    public String toString() {
        return isUnix() ? UNIX_PREFIX + socket : TCP_PREFIX + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
