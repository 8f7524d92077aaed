package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.backend.Backends;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "backend", description = "Manage the stores that hold app vdisks.",
        subcommands = {BackendCommands.Add.class, BackendCommands.ListCmd.class, BackendCommands.Rm.class,
                BackendCommands.Check.class})
final class BackendCommands {

    @Command(name = "add", description = "Register a backend, e.g. local:///srv/vdisks or nbd://host:10809/lun0.")
    static final class Add implements Callable<Integer> {
        private final Context context;
        @Parameters(index = "0", paramLabel = "NAME")
        String name;
        @Parameters(index = "1", paramLabel = "URI")
        String uri;
        @Option(names = "--format", description = "For a LUN (nbd://): erase whatever it carries and write dcd's "
                + "layout. Without it only an all-zero LUN is formatted.")
        boolean format;

        Add(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            URI parsed = Backends.parse(uri);
            Backends.validate(parsed);
            Optional<Backend.Usage> usage = Optional.empty();
            if (context.catalog().backends().stream().noneMatch(b -> b.name().equals(name))) {
                // A store that needs setting up (a LUN) is checked and set up before it enters the catalog.
                try (Backend backend = Backends.open(name, parsed)) {
                    backend.prepare(format);
                    usage = backend.usage();
                }
            }
            BackendEntry entry = context.catalog().addBackend(name, parsed);
            context.out().println("added backend " + entry.name() + " " + entry.uri()
                    + usage.map(u -> " (" + Sizes.format(u.capacity()) + ", " + Sizes.format(u.free()) + " free)").orElse(""));
            return 0;
        }
    }

    @Command(name = "list", description = "List backends.")
    static final class ListCmd implements Callable<Integer> {
        private final Context context;

        ListCmd(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            List<BackendEntry> backends = context.catalog().backends();
            // Stores of fixed size (LUNs) report capacity, used and free; the others show "-".
            Map<String, Optional<Backend.Usage>> usage = new LinkedHashMap<>();
            Map<String, String> unreachable = new LinkedHashMap<>();
            for (BackendEntry b : backends) {
                try {
                    usage.put(b.name(), context.backend(b.name()).usage());
                } catch (java.io.IOException e) {
                    usage.put(b.name(), Optional.empty());
                    unreachable.put(b.name(), e.getMessage());
                }
            }
            if (context.json()) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (BackendEntry b : backends) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("name", b.name());
                    row.put("uri", b.uri());
                    usage.get(b.name()).ifPresent(u -> {
                        row.put("capacityBytes", u.capacity());
                        row.put("usedBytes", u.used());
                        row.put("freeBytes", u.free());
                    });
                    if (unreachable.containsKey(b.name())) {
                        row.put("error", unreachable.get(b.name()));
                    }
                    rows.add(row);
                }
                Output.json(context.out(), rows);
                return 0;
            }
            Output.Table table = new Output.Table("NAME", "URI", "APPS", "CAPACITY", "USED", "FREE");
            for (BackendEntry b : backends) {
                long apps = context.catalog().apps().stream().filter(a -> a.backend().equals(b.name())).count();
                Optional<Backend.Usage> u = usage.get(b.name());
                String dash = unreachable.containsKey(b.name()) ? "unreachable" : "-";
                table.row(b.name(), b.uri(), apps, u.map(x -> Sizes.format(x.capacity())).orElse(dash),
                        u.map(x -> Sizes.format(x.used())).orElse(dash), u.map(x -> Sizes.format(x.free())).orElse(dash));
            }
            table.print(context.out());
            return 0;
        }
    }

    @Command(name = "rm", description = "Remove a backend that holds no apps.")
    static final class Rm implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "NAME")
        String name;

        Rm(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            context.catalog().removeBackend(name);
            context.out().println("removed backend " + name);
            return 0;
        }
    }

    @Command(name = "check", description = "Check that a backend is reachable and readable.")
    static final class Check implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "NAME")
        String name;

        Check(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Backend backend = context.backend(name);
            Backend.HealthReport report = backend.check();
            int objects = report.ok() ? backend.list().size() : -1;
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("name", name);
                json.put("uri", backend.uri().toString());
                json.put("ok", report.ok());
                json.put("latencyMillis", report.latencyNanos() / 1e6);
                json.put("detail", report.detail());
                json.put("objects", objects);
                Output.json(context.out(), json);
            } else {
                List<String> parts = new ArrayList<>();
                parts.add(report.ok() ? "ok" : "FAILED");
                parts.add(String.format(java.util.Locale.ROOT, "%.1f ms", report.latencyNanos() / 1e6));
                parts.add(report.detail());
                if (objects >= 0) {
                    parts.add(objects + " vdisk(s)");
                }
                context.out().println(name + ": " + String.join(", ", parts));
            }
            if (!report.ok()) {
                context.err().println("dcd: backend '" + name + "' failed its check: " + report.detail());
                return 1;
            }
            return 0;
        }
    }
}
