package dev.dcd.tests.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernel's own record of the FUSE requests of one mount, from the tracepoints {@code fuse:fuse_request_send} and
 * {@code fuse:fuse_request_end} (Linux 6.x) in a tracefs instance of our own (so other tracing on the machine is left
 * alone): every request's opcode and the time from the kernel queueing it to the server's reply, the size of every
 * READ reply, and how long no request of the mount was outstanding (the reader's own time: system calls, copies, page
 * cache). The same measure for every FUSE server, fuse2fs included. Root only.
 */
final class FuseTrace implements AutoCloseable {
    private static final Path TRACING = Path.of("/sys/kernel/tracing");
    private static final Pattern SEND = Pattern.compile(
            "\\s(\\d+)\\.(\\d+): fuse_request_send: connection (\\d+) req (\\d+) opcode \\d+ \\(FUSE_(\\w+)\\)");
    private static final Pattern END = Pattern.compile(
            "\\s(\\d+)\\.(\\d+): fuse_request_end: connection (\\d+) req (\\d+) len (\\d+) error (-?\\d+)");
    /** fuse_out_header: a READ reply's data follows these bytes. */
    private static final int OUT_HEADER_BYTES = 16;

    private final Path instance;

    private FuseTrace(Path instance) {
        this.instance = instance;
    }

    /** True when this kernel has the FUSE tracepoints and we may use them. */
    static boolean available() {
        return Files.isWritable(TRACING.resolve("instances")) && Files.exists(TRACING.resolve("events/fuse/fuse_request_send"));
    }

    /** A stopped tracing instance recording FUSE requests (of every mount; {@link #record} picks one). */
    static FuseTrace open() throws IOException {
        Path instance = TRACING.resolve("instances").resolve("dcd-bench-" + ProcessHandle.current().pid());
        if (!Files.isDirectory(instance)) {
            Files.createDirectory(instance);
        }
        FuseTrace t = new FuseTrace(instance);
        t.write("tracing_on", "0");
        t.write("buffer_size_kb", "32768");
        t.write("events/fuse/enable", "1");
        return t;
    }

    private void write(String file, String value) throws IOException {
        Files.writeString(instance.resolve(file), value);
    }

    /** A pass to trace. */
    interface Pass {
        void run() throws Exception;
    }

    /** Runs {@code pass} with tracing on and summarizes the requests of the FUSE mount at {@code mountpoint}. */
    Summary record(Path mountpoint, Pass pass) throws Exception {
        int connection = connectionOf(mountpoint);
        write("events/fuse/filter", "connection == " + connection); // other mounts on the machine stay out of the buffer
        write("trace", ""); // clears the buffer
        write("tracing_on", "1");
        try {
            pass.run();
        } finally {
            write("tracing_on", "0");
        }
        return Summary.parse(Files.readAllLines(instance.resolve("trace")), connection);
    }

    /** The FUSE connection number of a mount: the minor of its device (MAJOR:MINOR in mountinfo; FUSE's major is 0). */
    static int connectionOf(Path mountpoint) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].equals(mountpoint.toString())) {
                return Integer.parseInt(f[2].substring(f[2].indexOf(':') + 1));
            }
        }
        throw new IOException("no mount at " + mountpoint);
    }

    @Override
    public void close() throws IOException {
        write("tracing_on", "0");
        write("events/fuse/enable", "0");
        write("events/fuse/filter", "0");
        Files.delete(instance);
    }

    /** One traced pass of one mount. */
    record Summary(Map<String, Long> counts, Map<String, Long> nanos, Map<Long, Long> readKiB, long spanNanos,
                   long idleNanos, boolean lost) {

        static Summary parse(List<String> lines, int connection) {
            Map<Long, Object[]> open = new HashMap<>();
            Map<String, Long> counts = new TreeMap<>();
            Map<String, Long> nanos = new TreeMap<>();
            Map<Long, Long> readKiB = new TreeMap<>();
            List<long[]> intervals = new ArrayList<>();
            boolean lost = false;
            for (String line : lines) {
                if (line.startsWith("#")) {
                    lost |= line.contains("entries-in-buffer") && !sameCounts(line);
                    continue;
                }
                Matcher s = SEND.matcher(line);
                if (s.find()) {
                    if (Integer.parseInt(s.group(3)) == connection) {
                        open.put(Long.parseLong(s.group(4)), new Object[] {nanos(s.group(1), s.group(2)), s.group(5)});
                    }
                    continue;
                }
                Matcher e = END.matcher(line);
                if (e.find() && Integer.parseInt(e.group(3)) == connection) {
                    Object[] sent = open.remove(Long.parseLong(e.group(4)));
                    if (sent == null) {
                        continue;
                    }
                    long t0 = (Long) sent[0];
                    long t1 = nanos(e.group(1), e.group(2));
                    String op = (String) sent[1];
                    counts.merge(op, 1L, Long::sum);
                    nanos.merge(op, t1 - t0, Long::sum);
                    intervals.add(new long[] {t0, t1});
                    if (op.equals("READ") && Integer.parseInt(e.group(6)) == 0) {
                        long data = Long.parseLong(e.group(5)) - OUT_HEADER_BYTES;
                        readKiB.merge((data + 4095) / 4096 * 4, 1L, Long::sum);
                    }
                }
            }
            intervals.sort((a, b) -> Long.compare(a[0], b[0]));
            long span = 0;
            long busy = 0;
            if (!intervals.isEmpty()) {
                long first = intervals.get(0)[0];
                long last = first;
                long curStart = first;
                long curEnd = first;
                for (long[] iv : intervals) {
                    last = Math.max(last, iv[1]);
                    if (iv[0] > curEnd) {
                        busy += curEnd - curStart;
                        curStart = iv[0];
                    }
                    curEnd = Math.max(curEnd, iv[1]);
                }
                busy += curEnd - curStart;
                span = last - first;
            }
            return new Summary(counts, nanos, readKiB, span, span - busy, lost);
        }

        /** "entries-in-buffer/entries-written: 8402/8402": a difference means the buffer overflowed. */
        private static boolean sameCounts(String header) {
            Matcher m = Pattern.compile("(\\d+)/(\\d+)").matcher(header);
            return m.find() && m.group(1).equals(m.group(2));
        }

        private static long nanos(String seconds, String micros) {
            return Long.parseLong(seconds) * 1_000_000_000L + Long.parseLong(micros) * 1000L;
        }

        /**
         * "LOOKUP 696 (8.7 us), OPEN 687 (5.5 us), READ 1443 (42.4 us, 91 KiB avg); span 169.4 ms, no request
         * outstanding 98.2 ms": per opcode the count and mean time from queueing to reply.
         */
        String describe(int files) {
            StringBuilder sb = new StringBuilder();
            counts.forEach((op, n) -> {
                sb.append(sb.length() == 0 ? "" : ", ").append(op).append(' ').append(n)
                        .append(String.format(" (%.1f/file, %.1f us", n / (double) files, nanos.get(op) / 1000.0 / n));
                if (op.equals("READ")) {
                    long reads = readKiB.values().stream().mapToLong(Long::longValue).sum();
                    long kib = readKiB.entrySet().stream().mapToLong(x -> x.getKey() * x.getValue()).sum();
                    sb.append(String.format(", %.0f KiB avg, largest %d KiB", kib / (double) Math.max(1, reads),
                            readKiB.isEmpty() ? 0 : ((TreeMap<Long, Long>) readKiB).lastKey()));
                }
                sb.append(')');
            });
            sb.append(String.format("; span %.1f ms, no request outstanding %.1f ms", spanNanos / 1e6, idleNanos / 1e6));
            if (lost) {
                sb.append(" (TRACE BUFFER OVERFLOWED: counts incomplete)");
            }
            return sb.toString();
        }
    }
}
