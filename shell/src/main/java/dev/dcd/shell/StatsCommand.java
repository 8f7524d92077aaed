package dev.dcd.shell;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dcd.catalog.Sizes;
import dev.dcd.filter.StatsSnapshot;
import dev.dcd.mount.MountService;
import dev.dcd.service.StatsService;
import dev.dcd.service.Views;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dcd stats [VM]}: the live statistics of mounted VMs. The counters live in each mount's serving
 * process, which publishes them as {@code MOUNTPOINT/stats.json}; this command reads that file.
 */
@Command(name = "stats", description = {"Show I/O statistics of mounted VMs: operations, bytes and latency per VM,",
        "per app and per backend, and the shared block cache."})
final class StatsCommand implements Callable<Integer> {
    /** Built on first use, so building the command tree does not load Jackson. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }
    private final Context context;

    @Parameters(index = "0", arity = "0..1", paramLabel = "VM", description = "one VM (default: every mounted VM)")
    String vmName;

    StatsCommand(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws Exception {
        StatsService service = new StatsService(context.environment());
        List<Views.MountedStats> found;
        if (vmName != null) {
            found = List.of(service.of(vmName));
        } else {
            found = service.all();
        }
        context.releaseCatalog();
        Map<String, Path> mounted = new LinkedHashMap<>();
        ObjectNode all = Json.MAPPER.createObjectNode();
        for (Views.MountedStats m : found) {
            mounted.put(m.vm(), m.mountpoint());
            JsonNode stats = m.stats();
            var supervision = MountService.supervision(context.home(), m.vm());
            if (supervision.isPresent() && stats instanceof ObjectNode o) {
                ObjectNode s = o.putObject("supervisor");
                s.put("pid", supervision.get().supervisorPid());
                s.put("serverPid", supervision.get().serverPid());
                s.put("standbyPid", supervision.get().standbyPid());
                s.put("restarts", supervision.get().restarts());
            }
            all.set(m.vm(), stats);
        }
        if (context.json()) {
            context.out().println(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(all));
            return 0;
        }
        if (all.isEmpty()) {
            context.out().println("no VM is mounted");
            return 0;
        }
        var out = context.out();
        for (Map.Entry<String, Path> e : mounted.entrySet()) {
            JsonNode stats = all.get(e.getKey());
            out.println("mounted at " + e.getValue() + ", generation " + stats.path("generation").asText("?"));
            JsonNode supervisor = stats.get("supervisor");
            if (supervisor != null) {
                out.println("supervised: server pid " + supervisor.path("serverPid").asLong() + ", standby pid "
                        + supervisor.path("standbyPid").asLong() + ", restarts: " + supervisor.path("restarts").asLong());
            }
            out.print(StatsSnapshot.fromJson(stats.get("disk").toString()).formatTable());
            JsonNode cache = stats.get("cache");
            if (cache != null) {
                long hits = cache.path("hits").asLong();
                long misses = cache.path("misses").asLong();
                out.println("cache: " + hits + " hits, " + misses + " misses"
                        + (hits + misses > 0 ? String.format(" (%.1f%% hit rate)", 100.0 * hits / (hits + misses)) : "")
                        + ", " + cache.path("evictions").asLong() + " evictions, " + cache.path("corrupt").asLong()
                        + " corrupt chunks dropped, " + Sizes.format(cache.path("usedBytes").asLong()) + " of "
                        + Sizes.format(cache.path("capacityBytes").asLong()) + " used");
            }
            JsonNode readahead = stats.get("readahead");
            if (readahead != null && readahead.path("prefetches").asLong() > 0) {
                out.println("readahead: " + readahead.path("prefetches").asLong() + " chunks prefetched, "
                        + readahead.path("hits").asLong() + " reads served from them");
            }
            JsonNode prefetch = stats.get("prefetch");
            if (prefetch != null) {
                out.println(prefetchLine(prefetch));
            }
            out.println();
        }
        return 0;
    }

    /** One line on start-up prefetch (docs/prefetch.md): replay progress and hits, recording. */
    static String prefetchLine(JsonNode p) {
        return "prefetch: " + p.path("done").asLong() + " of " + p.path("listed").asLong() + " listed chunks replayed ("
                + p.path("fetched").asLong() + " fetched) for " + p.path("replaying").asInt() + " app(s), "
                + p.path("hits").asLong() + " hits" + (p.path("failed").asLong() > 0 ? ", stopped by an error" : "")
                + "; recording " + p.path("recording").asInt() + " app(s), " + p.path("recorded").asLong()
                + " chunks so far, " + p.path("saved").asInt() + " list(s) stored";
    }

    /** VM name to mountpoint, for every mount whose serving process is alive. */
    static Map<String, Path> mountedVms(Path home) throws IOException {
        return dev.dcd.mount.MountService.liveMounts(home);
    }
}
