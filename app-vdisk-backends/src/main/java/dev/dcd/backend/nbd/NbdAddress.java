package dev.dcd.backend.nbd;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Where an NBD export lives, parsed from the URIs libnbd and qemu use: {@code nbd://HOST[:PORT]/EXPORT} (TCP,
 * port 10809 by default) and {@code nbd+unix:///EXPORT?socket=PATH} (a Unix domain socket). The export name is
 * the path without its leading slash and may be empty (the server's default export). Query parameters other
 * than {@code socket} are left for the caller's configuration.
 */
public record NbdAddress(Optional<String> host, int port, Optional<Path> socket, String exportName,
                         Map<String, String> parameters) {
    public static final String TCP_SCHEME = "nbd";
    public static final String UNIX_SCHEME = "nbd+unix";
    public static final int DEFAULT_PORT = 10809;

    public NbdAddress {
        parameters = Map.copyOf(parameters);
    }

    public static NbdAddress tcp(String host, int port, String exportName) {
        return new NbdAddress(Optional.of(host), port, Optional.empty(), exportName, Map.of());
    }

    public static NbdAddress unix(Path socket, String exportName) {
        return new NbdAddress(Optional.empty(), 0, Optional.of(socket), exportName, Map.of());
    }

    /** Parses an nbd URI; a bad one is a one-line {@link IllegalArgumentException} that shows the right form. */
    public static NbdAddress parse(URI uri) {
        String scheme = uri.getScheme();
        Map<String, String> query = query(uri);
        String path = uri.getRawPath() == null ? "" : decode(uri.getRawPath());
        String export = path.startsWith("/") ? path.substring(1) : path;
        if (uri.isOpaque()) {
            throw bad(uri, "is not hierarchical");
        }
        if (TCP_SCHEME.equals(scheme)) {
            if (uri.getHost() == null || uri.getHost().isEmpty()) {
                throw bad(uri, "has no host");
            }
            if (query.containsKey("socket")) {
                throw bad(uri, "gives a socket; Unix sockets use nbd+unix:///EXPORT?socket=PATH");
            }
            int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
            return new NbdAddress(Optional.of(uri.getHost()), port, Optional.empty(), export, query);
        }
        if (UNIX_SCHEME.equals(scheme)) {
            if (uri.getRawAuthority() != null) {
                throw bad(uri, "has a host; a Unix socket URI has none (nbd+unix:///EXPORT?socket=PATH)");
            }
            String socket = query.remove("socket");
            if (socket == null || !socket.startsWith("/")) {
                throw bad(uri, "needs ?socket=/absolute/path");
            }
            return new NbdAddress(Optional.empty(), 0, Optional.of(Path.of(socket)), export, query);
        }
        throw bad(uri, "is not an nbd:// or nbd+unix:// URI");
    }

    private static IllegalArgumentException bad(URI uri, String why) {
        return new IllegalArgumentException("NBD URI '" + uri + "' " + why
                + " (expected nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
    }

    private static Map<String, String> query(URI uri) {
        Map<String, String> out = new LinkedHashMap<>();
        String raw = uri.getRawQuery();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw bad(uri, "has a query part '" + pair + "' without a value");
            }
            out.put(decode(pair.substring(0, eq)), decode(pair.substring(eq + 1)));
        }
        return out;
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    SocketAddress socketAddress() {
        return socket.<SocketAddress>map(UnixDomainSocketAddress::of)
                .orElseGet(() -> new InetSocketAddress(host.orElseThrow(), port));
    }

    /** For messages: where the server is and which export. */
    @Override
    public String toString() {
        String where = socket.map(p -> "unix:" + p).orElseGet(() -> host.orElseThrow() + ":" + port);
        return where + (exportName.isEmpty() ? " (default export)" : " export '" + exportName + "'");
    }
}
