package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.catalog.Sizes;
import dev.dcd.service.BackendService;
import dev.dcd.service.Views;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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
        @Option(names = "--no-check", description = "Register the store without reaching it first, e.g. while its "
                + "server is down (not for nbd://: a LUN is set up when it is added).")
        boolean noCheck;

        Add(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            Views.BackendAdded added = new BackendService(context.environment()).add(name, uri, format, !noCheck);
            context.out().println("added backend " + added.entry().name() + " " + added.entry().uri()
                    + added.usage().map(u -> " (" + Sizes.format(u.capacity()) + ", " + Sizes.format(u.free()) + " free)")
                    .orElse(""));
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
            List<Views.BackendRow> rows = new BackendService(context.environment()).list();
            if (context.json()) {
                List<Map<String, Object>> json = new ArrayList<>();
                for (Views.BackendRow r : rows) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("name", r.entry().name());
                    row.put("uri", r.entry().uri());
                    r.usage().ifPresent(u -> {
                        row.put("capacityBytes", u.capacity());
                        row.put("usedBytes", u.used());
                        row.put("freeBytes", u.free());
                    });
                    r.unreachable().ifPresent(reason -> row.put("error", reason));
                    json.add(row);
                }
                Output.json(context.out(), json);
                return 0;
            }
            // Stores of fixed size (LUNs) report capacity, used and free; the others show "-".
            Output.Table table = new Output.Table("NAME", "URI", "APPS", "CAPACITY", "USED", "FREE");
            for (Views.BackendRow r : rows) {
                Optional<Backend.Usage> u = r.usage();
                String dash = r.unreachable().isPresent() ? "unreachable" : "-";
                table.row(r.entry().name(), r.entry().uri(), r.apps(), u.map(x -> Sizes.format(x.capacity())).orElse(dash),
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
            new BackendService(context.environment()).remove(name);
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
            Views.BackendCheck check = new BackendService(context.environment()).check(name);
            Backend.HealthReport report = check.report();
            int objects = check.objects();
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("name", name);
                json.put("uri", check.uri().toString());
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
