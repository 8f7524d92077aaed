package dev.dcd.service;

import dev.dcd.backend.Backend;
import dev.dcd.backend.BackendException;
import dev.dcd.backend.Backends;
import dev.dcd.backend.UnreachableException;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.BackendEntry;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The stores that hold app vdisks: register one (checking and, for a LUN, setting it up first), list them with
 * what each holds and, for stores of fixed size, capacity and free space, check one with a real round trip, and
 * remove one that holds no apps.
 */
public final class BackendService {
    private final DcdEnvironment env;

    public BackendService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /** {@link #add(String, String, boolean, boolean)} with the store reached first. */
    public Views.BackendAdded add(String name, String uri, boolean format) throws IOException {
        return add(name, uri, format, true);
    }

    /**
     * Registers backend {@code name} at {@code uri}. A new store is first reached once, within its connect timeout
     * ({@link Backend#reach}), so a server that is down, hung or misnamed is refused in seconds with what failed
     * and what to do; {@code check} false skips that for a store that needs no setting up, to register one that is
     * down now. A store that needs setting up (a LUN) is always reached, then set up before it enters the
     * catalog, so a store that cannot be used is never registered; {@code format} lets a LUN that carries
     * something else be erased. Registering an existing name with the same URI is a no-op.
     */
    public Views.BackendAdded add(String name, String uri, boolean format, boolean check) throws IOException {
        URI parsed = Backends.parse(uri);
        Backends.validate(parsed);
        Optional<Backend.Usage> usage = Optional.empty();
        if (env.catalog().backends().stream().noneMatch(b -> b.name().equals(name))) {
            try (Backend backend = Backends.open(name, parsed)) {
                if (check || backend.setUpWhenAdded()) {
                    reach(backend);
                }
                backend.prepare(format);
                usage = backend.usage();
            }
        }
        BackendEntry entry = env.catalog().addBackend(name, parsed);
        return new Views.BackendAdded(entry, usage);
    }

    private static void reach(Backend backend) throws IOException {
        try {
            backend.reach();
        } catch (UnreachableException e) {
            String instead = backend.setUpWhenAdded() ? "" : ", or add it with --no-check while it is down";
            throw new BackendException(backend.name(), null, "cannot add " + backend.uri() + ": " + e.getMessage()
                    + "; " + e.advice() + instead + " (nothing was added)", e);
        }
    }

    /**
     * Every backend with the number of app versions it holds and its usage; a backend that cannot be reached is
     * listed with the reason instead of usage, so one dead store never hides the others.
     */
    public List<Views.BackendRow> list() throws IOException {
        List<AppVersion> apps = env.catalog().apps();
        List<Views.BackendRow> rows = new ArrayList<>();
        for (BackendEntry b : env.catalog().backends()) {
            long count = apps.stream().filter(a -> a.backend().equals(b.name())).count();
            Optional<Backend.Usage> usage;
            Optional<String> unreachable = Optional.empty();
            try {
                usage = env.backend(b.name()).usage();
            } catch (IOException e) {
                usage = Optional.empty();
                unreachable = Optional.of(e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName());
            }
            rows.add(new Views.BackendRow(b, count, usage, unreachable));
        }
        return rows;
    }

    /** A real round trip to the store; when it succeeds, also how many vdisks it holds. */
    public Views.BackendCheck check(String name) throws IOException {
        Backend backend = env.backend(name);
        Backend.HealthReport report = backend.check();
        int objects = report.ok() ? backend.list().size() : -1;
        return new Views.BackendCheck(name, backend.uri(), report, objects);
    }

    /** Removes a backend; the catalog refuses while apps live there, and the built-in local one always. */
    public void remove(String name) throws IOException {
        env.catalog().removeBackend(name);
    }
}
