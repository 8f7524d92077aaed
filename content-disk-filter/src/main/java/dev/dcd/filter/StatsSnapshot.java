package dev.dcd.filter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A consistent-enough copy of one disk's counters (each counter is read once; counters of concurrent I/O
 * may be a request apart). Serializes to JSON for {@code dcd stats --json} and FUSE's stats.json.
 *
 * @param vm        the VM the disk belongs to
 * @param ops       per operation type (read, write, flush, trim, zero, extents), in that order
 * @param apps      guest reads of ranges mapped to each app, sorted by app
 * @param backends  the same reads grouped by the backend holding the app, sorted by backend
 * @param overlayBlocks 4 KiB blocks currently held by the copy-on-write overlay
 * @param serving   app to the backend serving it now (it changes when the app moves: {@code dcd catalog move})
 */
public record StatsSnapshot(String vm, List<OpStats> ops, List<GroupStats> apps, List<GroupStats> backends,
                            long overlayBlocks, Map<String, String> serving) {
    public StatsSnapshot {
        serving = serving == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(serving));
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One operation type: requests, bytes moved, failures and latency percentiles (nanoseconds). */
    public record OpStats(String op, long ops, long bytes, long errors, long p50Nanos, long p99Nanos,
                          long[] histogram) {
    }

    /** Reads attributed to one app or backend. */
    public record GroupStats(String name, long reads, long bytes, long p50Nanos, long p99Nanos) {
    }

    public OpStats op(String name) {
        return ops.stream().filter(o -> o.op().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no operation " + name));
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static StatsSnapshot fromJson(String json) {
        try {
            return JSON.readValue(json, StatsSnapshot.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a stats snapshot: " + e.getOriginalMessage(), e);
        }
    }

    /** The human table {@code dcd stats VM} prints. */
    public String formatTable() {
        StringBuilder out = new StringBuilder();
        out.append("VM ").append(vm).append(" (overlay: ").append(bytes(overlayBlocks * 4096)).append(")\n");
        out.append(String.format(Locale.ROOT, "%-10s %12s %12s %8s %10s %10s%n", "op", "requests", "bytes", "errors",
                "p50", "p99"));
        for (OpStats o : ops) {
            out.append(String.format(Locale.ROOT, "%-10s %12d %12s %8d %10s %10s%n", o.op(), o.ops(), bytes(o.bytes()),
                    o.errors(), nanos(o.p50Nanos()), nanos(o.p99Nanos())));
        }
        group(out, "app", apps, serving);
        group(out, "backend", backends, null);
        return out.toString();
    }

    /** One table of reads by app or backend; {@code servedBy} (app to backend) adds a "served by" column. */
    private static void group(StringBuilder out, String title, List<GroupStats> groups, Map<String, String> servedBy) {
        if (groups.isEmpty()) {
            return;
        }
        int width = Math.max(title.length(), groups.stream().mapToInt(g -> g.name().length()).max().orElse(0));
        String row = "%-" + width + "s %12s %12s %10s %10s";
        boolean served = servedBy != null && !servedBy.isEmpty();
        out.append('\n').append(String.format(Locale.ROOT, row, title, "reads", "bytes", "p50", "p99"));
        out.append(served ? "  served by\n" : "\n");
        for (GroupStats g : groups) {
            out.append(String.format(Locale.ROOT, row, g.name(), g.reads(), bytes(g.bytes()), nanos(g.p50Nanos()),
                    nanos(g.p99Nanos())));
            out.append(served ? "  " + servedBy.getOrDefault(g.name(), "-") + "\n" : "\n");
        }
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    static String nanos(long n) {
        if (n == 0) {
            return "-";
        }
        if (n == Long.MAX_VALUE) {
            return "inf";
        }
        if (n < 1_000) {
            return "<" + n + " ns";
        }
        if (n < 1_000_000) {
            return String.format(Locale.ROOT, "<%.1f us", n / 1e3);
        }
        if (n < 1_000_000_000) {
            return String.format(Locale.ROOT, "<%.1f ms", n / 1e6);
        }
        return String.format(Locale.ROOT, "<%.1f s", n / 1e9);
    }
}
