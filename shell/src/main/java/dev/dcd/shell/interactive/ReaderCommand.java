package dev.dcd.shell.interactive;

import dev.dcd.catalog.Sizes;
import dev.dcd.shell.Output;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * {@code reader start|status|wait|stop}: a background reader on a mounted VM, owned by the shell or script session
 * (see {@link BackgroundReader}). The figures it reports are what {@code check reader} asserts on.
 */
@Command(name = "reader", description = {"Read a mounted VM in the background and check every byte (for scripted tests).",
        "Files are checked against their app's sha256, disk.img ranges against their first read."})
final class ReaderCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    /** What {@code check reader NAME FIELD} can name, in the order the help lists them. */
    static final Map<String, ToDoubleFunction<BackgroundReader.Figures>> FIELDS = fields();

    private static Map<String, ToDoubleFunction<BackgroundReader.Figures>> fields() {
        Map<String, ToDoubleFunction<BackgroundReader.Figures>> m = new LinkedHashMap<>();
        m.put("reads", BackgroundReader.Figures::reads);
        m.put("bytes", BackgroundReader.Figures::bytes);
        m.put("verified", BackgroundReader.Figures::verified);
        m.put("passes", BackgroundReader.Figures::passes);
        m.put("errors", BackgroundReader.Figures::errors);
        m.put("stall-ms", f -> millis(f.stallNanos()));
        m.put("longest-read-ms", f -> millis(f.longestReadNanos()));
        m.put("longest-gap-ms", f -> millis(f.longestGapNanos()));
        m.put("p50-ms", f -> millis(f.p50Nanos()));
        m.put("p99-ms", f -> millis(f.p99Nanos()));
        m.put("elapsed-ms", f -> millis(f.elapsedNanos()));
        m.put("stuck-threads", BackgroundReader.Figures::stuckThreads);
        return m;
    }

    static double millis(long nanos) {
        return Math.round(nanos / 1_000.0) / 1_000.0;
    }

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (start, status, wait or stop)");
    }

    /** The command with its subcommands, bound to one session. */
    static CommandLine commandLine(ShellSession session) {
        CommandLine cl = new CommandLine(new ReaderCommand());
        cl.addSubcommand(new CommandLine(new Start(session)));
        cl.addSubcommand(new CommandLine(new Status(session)));
        cl.addSubcommand(new CommandLine(new Wait(session)));
        cl.addSubcommand(new CommandLine(new Stop(session)));
        return cl;
    }

    @Command(name = "start", description = {"Start a reader on a mounted VM: every file of files/ in a loop, each checked"
            + " against its app's sha256 (and with --disk, ranges of disk.img against their first read).",
            "NAME defaults to the VM's name; VM defaults to the current VM ('use')."})
    static final class Start implements Callable<Integer> {
        private final ShellSession session;
        @Spec
        CommandSpec spec;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
        boolean help;
        @Parameters(arity = "0..2", paramLabel = "[NAME] VM|MOUNTPOINT")
        List<String> words = new ArrayList<>();
        @Option(names = "--files", description = "read the files of files/ (the default unless --disk is given)")
        boolean files;
        @Option(names = "--disk", paramLabel = "RANGES", description = "read these ranges of disk.img: 'all' or"
                + " OFFSET:LENGTH[,...] with size suffixes, e.g. 0:1M,64M:8M")
        String disk;
        @Option(names = "--threads", paramLabel = "N", defaultValue = "1", description = "reading threads (default: ${DEFAULT-VALUE})")
        int threads;

        Start(ShellSession session) {
            this.session = session;
        }

        @Override
        public Integer call() throws Exception {
            String name;
            String target;
            if (words.size() == 2) {
                name = words.get(0);
                target = words.get(1);
            } else if (words.size() == 1) {
                name = null;
                target = words.get(0);
            } else {
                name = null;
                target = session.currentVm().orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(),
                        "name the VM or mountpoint to read (or choose a current VM with 'use VM')"));
            }
            if (threads < 1 || threads > 64) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be between 1 and 64");
            }
            if (name != null && !name.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
                throw new CommandLine.ParameterException(spec.commandLine(), "bad reader name '" + name
                        + "' (letters, digits, '.', '_' and '-')");
            }
            var context = session.context();
            ReaderTargets.Mount mount = ReaderTargets.resolve(context, target);
            String readerName = name != null ? name : mount.vm();
            session.readers().requireFree(readerName);
            List<BackgroundReader.FileItem> fileItems = files || disk == null
                    ? ReaderTargets.files(context, mount) : List.of();
            List<BackgroundReader.DiskSlice> slices;
            try {
                slices = disk == null ? List.of() : ReaderTargets.diskSlices(mount, disk);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            List<BackgroundReader.Item> items = new ArrayList<>(fileItems);
            items.addAll(slices);
            if (items.isEmpty()) {
                throw new dev.dcd.catalog.CatalogException("VM '" + mount.vm() + "' has no files to read; add --disk RANGES");
            }
            BackgroundReader reader = BackgroundReader.builder().items(items).threads(threads).build();
            session.readers().add(new Readers.Entry(readerName, mount, reader, fileItems.size(), slices.size()));
            reader.start(readerName);
            long diskBytes = slices.stream().mapToLong(BackgroundReader.DiskSlice::length).sum();
            PrintWriter out = context.out();
            out.println("reader " + readerName + " started on VM " + mount.vm() + " at " + mount.mountpoint() + ": "
                    + fileItems.size() + " file(s)" + (slices.isEmpty() ? "" : ", " + Sizes.format(diskBytes) + " of "
                    + ReaderTargets.DISK) + ", " + threads + " thread(s)");
            out.flush();
            return 0;
        }
    }

    /** A subcommand about one reader of the session, which may be left unnamed when there is only one. */
    abstract static class OnReader implements Callable<Integer> {
        final ShellSession session;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
        boolean help;
        @Parameters(arity = "0..1", paramLabel = "NAME")
        String name;

        OnReader(ShellSession session) {
            this.session = session;
        }

        Readers.Entry entry() {
            return session.readers().get(name);
        }
    }

    @Command(name = "status", description = "Show what a reader has read so far (NAME may be left out when there is one reader).")
    static final class Status extends OnReader {
        Status(ShellSession session) {
            super(session);
        }

        @Override
        public Integer call() {
            Readers.Entry e = entry();
            report(session, e, e.reader().figures());
            return 0;
        }
    }

    @Command(name = "wait", description = {"Wait until a reader has read every file (and range) again, N times over,"
            + " from reads that all began after this command: after a backend switch this proves every byte was"
            + " read again. Fails when the timeout ends first."})
    static final class Wait extends OnReader {
        @Spec
        CommandSpec spec;
        @Option(names = "--passes", paramLabel = "N", defaultValue = "1", description = "whole passes to wait for (default: ${DEFAULT-VALUE})")
        int passes;
        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "120", description = "give up after this long (default: ${DEFAULT-VALUE})")
        int timeoutSeconds;

        Wait(ShellSession session) {
            super(session);
        }

        @Override
        public Integer call() throws Exception {
            if (passes < 1 || timeoutSeconds < 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--passes and --timeout must be at least 1");
            }
            Readers.Entry e = entry();
            if (!e.reader().running()) {
                throw new ReaderException("reader '" + e.name() + "' is stopped");
            }
            long before = e.reader().figures().passes();
            if (!e.reader().awaitPasses(passes, Duration.ofSeconds(timeoutSeconds))) {
                throw new ReaderException("reader '" + e.name() + "' did not read " + passes
                        + " whole pass(es) within " + timeoutSeconds + " s" + (e.reader().running() ? "" : " (it was stopped)")
                        + "; " + summary(e.reader().figures()));
            }
            BackgroundReader.Figures f = e.reader().figures();
            session.context().out().println("reader " + e.name() + ": " + passes + " more pass(es) read ("
                    + (f.passes() - before) + " completed meanwhile), " + f.errors() + " error(s)");
            session.context().out().flush();
            return 0;
        }
    }

    @Command(name = "stop", description = "Stop a reader and print its report (NAME may be left out when there is one reader).")
    static final class Stop extends OnReader {
        Stop(ShellSession session) {
            super(session);
        }

        @Override
        public Integer call() throws Exception {
            Readers.Entry e = entry();
            report(session, e, e.reader().stop());
            return 0;
        }
    }

    private static void report(ShellSession session, Readers.Entry e, BackgroundReader.Figures f) {
        var context = session.context();
        if (context.json()) {
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("name", e.name());
            json.put("vm", e.mount().vm());
            json.put("mountpoint", e.mount().mountpoint().toString());
            json.put("generation", e.mount().generation());
            json.put("files", e.files());
            json.put("diskSlices", e.diskSlices());
            json.put("threads", e.reader().threads());
            json.put("running", f.running());
            for (Map.Entry<String, ToDoubleFunction<BackgroundReader.Figures>> field : FIELDS.entrySet()) {
                double value = field.getValue().applyAsDouble(f);
                json.put(camel(field.getKey()), field.getKey().endsWith("-ms") ? (Object) value : (Object) (long) value);
            }
            json.put("firstError", f.firstError());
            Output.json(context.out(), json);
            return;
        }
        PrintWriter out = context.out();
        out.println("reader " + e.name() + " on VM " + e.mount().vm() + " (" + e.mount().mountpoint() + "): "
                + (f.running() ? "running" : "stopped") + " after " + String.format(Locale.ROOT, "%.1f s", f.elapsedNanos() / 1e9)
                + ", " + summary(f));
        if (f.firstError() != null) {
            out.println("first error: " + f.firstError());
        }
        if (f.stuckThreads() > 0) {
            out.println(f.stuckThreads() + " thread(s) were still inside a read when stopped; their reads count as stalls");
        }
        out.flush();
    }

    static String summary(BackgroundReader.Figures f) {
        return f.reads() + " reads, " + Sizes.format(f.bytes()) + ", " + f.passes() + " passes, " + f.errors()
                + " errors, longest stall " + ms(f.stallNanos()) + " (read " + ms(f.longestReadNanos()) + ", gap "
                + ms(f.longestGapNanos()) + "), p99 read " + ms(f.p99Nanos());
    }

    private static String ms(long nanos) {
        return String.format(Locale.ROOT, nanos < 10_000_000 ? "%.1f ms" : "%.0f ms", nanos / 1e6);
    }

    /** "stall-ms" as "stallMs", the JSON spelling. */
    static String camel(String field) {
        StringBuilder b = new StringBuilder();
        boolean up = false;
        for (char c : field.toCharArray()) {
            if (c == '-') {
                up = true;
            } else {
                b.append(up ? Character.toUpperCase(c) : c);
                up = false;
            }
        }
        return b.toString();
    }
}
