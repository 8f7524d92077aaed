package dev.dcd.backend;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/** Finds the provider for a URI's scheme. */
public final class Backends {
    private Backends() {
    }

    public static Map<String, BackendProvider> providers() {
        Map<String, BackendProvider> providers = new TreeMap<>();
        for (BackendProvider provider : ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader())) {
            providers.put(provider.scheme(), provider);
        }
        return providers;
    }

    public static URI parse(String uri) {
        try {
            URI parsed = new URI(uri);
            if (parsed.getScheme() == null) {
                throw new IllegalArgumentException("backend URI '" + uri + "' has no scheme (expected for example local:///abs/dir)");
            }
            return parsed;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("backend URI '" + uri + "' is malformed: " + e.getReason());
        }
    }

    public static BackendProvider provider(URI uri) {
        BackendProvider provider = providers().get(uri.getScheme());
        if (provider == null) {
            throw new IllegalArgumentException("no backend handles scheme '" + uri.getScheme() + "' (known: "
                    + String.join(", ", providers().keySet()) + ")");
        }
        return provider;
    }

    public static void validate(URI uri) {
        provider(uri).validate(uri);
    }

    public static Backend open(String name, URI uri) throws IOException {
        return provider(uri).open(name, uri);
    }
}
