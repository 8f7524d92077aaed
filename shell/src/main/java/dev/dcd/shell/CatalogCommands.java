package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.ImportResult;
import dev.dcd.catalog.Rescanner;
import dev.dcd.catalog.Sizes;
import dev.dcd.catalog.VdiskReferences;
import dev.dcd.service.GcService;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.VdiskPaths;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "catalog", description = "Import, list, inspect and remove apps.",
        subcommands = {CatalogCommands.Import.class, CatalogCommands.ListCmd.class, CatalogCommands.Show.class,
                CatalogCommands.Rm.class, CatalogCommands.Move.class, CatalogCommands.Rescan.class,
                CatalogCommands.Gc.class, PrefetchCommands.class})
final class CatalogCommands {

    @Command(name = "import", description = "Import a directory or archive (.tar[.gz|.xz|.bz2|.zst], .tgz, .zip, .deb) as APP@VERSION.")
    static final class Import implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "SOURCE")
        Path source;
        @Option(names = "--name", paramLabel = "N", description = "app name (default: from the package or file name)")
        String name;
        @Option(names = "--version", paramLabel = "V", description = "app version (default: from the package or file name)")
        String version;
        @Option(names = "--backend", paramLabel = "NAME", defaultValue = "local", description = "backend to store the vdisk on (default: ${DEFAULT-VALUE})")
        String backend;
        @Option(names = "--max-size", paramLabel = "SIZE", defaultValue = "16G", description = "most bytes the source may expand to (default: ${DEFAULT-VALUE})")
        String maxSize;
        @Option(names = "--max-ratio", paramLabel = "N", defaultValue = "100", description = "refuse a compressed source that expands more than N times the bytes read so far, past 256 MiB (decompression-bomb guard; 0: no limit; default: ${DEFAULT-VALUE})")
        long maxRatio;

        Import(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            ImportRequest request = ImportRequest.builder(source).name(name).version(version).backend(backend)
                    .maxSize(Sizes.parse(maxSize)).maxRatio(maxRatio).build();
            ImportResult result = new dev.dcd.service.ImportService(context.environment()).importSource(request,
                    context.progress());
            AppVersion app = result.app();
            if (context.json()) {
                Output.json(context.out(), Map.of("app", app, "warnings", result.warnings()));
            } else {
                context.out().println("imported " + app.label() + ": " + app.fileCount() + " files, "
                        + Sizes.format(app.byteCount()) + ", vdisk " + app.id().shortHex() + " on " + app.backend());
            }
            return 0;
        }
    }

    @Command(name = "list", description = "List app versions.")
    static final class ListCmd implements Callable<Integer> {
        private final Context context;

        ListCmd(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            List<AppVersion> apps = context.catalog().apps();
            if (context.json()) {
                Output.json(context.out(), apps);
                return 0;
            }
            printApps(context.out(), apps);
            return 0;
        }
    }

    /** {@code catalog list} as a table: what the demo shows too. */
    static void printApps(java.io.PrintWriter out, List<AppVersion> apps) {
        Output.Table table = new Output.Table("APP", "VERSION", "FILES", "SIZE", "BACKEND", "VDISK", "IMPORTED").right(2, 3);
        for (AppVersion a : apps) {
            table.row(a.name(), a.version(), a.fileCount(), Sizes.format(a.byteCount()), a.backend(),
                    a.id().shortHex(), Output.time(a.importedAt()));
        }
        table.print(out);
    }

    @Command(name = "show", description = "Show an app version and list its files.")
    static final class Show implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;

        Show(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            AppVersion app = context.catalog().resolve(spec);
            Manifest manifest;
            try (BlockDevice device = context.backend(app.backend()).open(app.id())) {
                manifest = AppVdisk.open(device).manifest();
            }
            if (context.json()) {
                List<Map<String, Object>> entries = new ArrayList<>();
                for (Entry e : manifest.entries()) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("path", e.path());
                    m.put("type", e.type().name().toLowerCase());
                    m.put("mode", String.format("%04o", e.mode()));
                    m.put("uid", e.uid());
                    m.put("gid", e.gid());
                    m.put("size", e.size());
                    m.put("mtime", e.mtimeSeconds());
                    if (e.isFile() || e.isHardlink()) {
                        m.put("sha256", e.sha256Hex());
                    }
                    if (!e.target().isEmpty()) {
                        m.put("target", e.target());
                    }
                    entries.add(m);
                }
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("app", app);
                json.put("entries", entries);
                json.put("prefetchChunks", prefetchChunks(app));
                Output.json(context.out(), json);
                return 0;
            }
            context.out().println(app.label() + "  vdisk " + app.contentId() + " on " + app.backend());
            context.out().println("backend: " + app.backend());
            context.out().println(app.fileCount() + " files, " + Sizes.format(app.byteCount()) + ", imported "
                    + Output.time(app.importedAt()));
            context.out().println(PrefetchCommands.summary(prefetchList(app)));
            Output.Table table = new Output.Table("TYPE", "MODE", "OWNER", "SIZE", "PATH").right(3);
            for (Entry e : manifest.entries()) {
                if (e.path().isEmpty()) {
                    continue;
                }
                String path = VdiskPaths.printableFull(e.path());
                if (e.isSymlink()) {
                    path += " -> " + VdiskPaths.printableFull(e.target());
                } else if (e.isHardlink()) {
                    path += " => " + VdiskPaths.printableFull(e.target());
                }
                table.row(typeLetter(e), String.format("%04o", e.mode()), e.uid() + ":" + e.gid(),
                        e.isDirectory() ? "" : e.size(), path);
            }
            table.print(context.out());
            return 0;
        }

        /** A damaged list is shown as such, not as a failure of the whole command. */
        private java.util.Optional<dev.dcd.vdisk.PrefetchList> prefetchList(AppVersion app) throws Exception {
            try {
                return context.catalog().prefetchList(app.id());
            } catch (dev.dcd.catalog.CatalogException e) {
                context.err().println("dcd: " + e.getMessage());
                return java.util.Optional.empty();
            }
        }

        private Integer prefetchChunks(AppVersion app) throws Exception {
            return prefetchList(app).map(dev.dcd.vdisk.PrefetchList::size).orElse(null);
        }

        private static String typeLetter(Entry e) {
            return switch (e.type()) {
                case FILE -> "file";
                case DIRECTORY -> "dir";
                case SYMLINK -> "link";
                case HARDLINK -> "hard";
            };
        }
    }

    @Command(name = "rm", description = "Remove APP@VER (or every version of APP); refused while a VM has it assigned. A version whose "
            + "vdisk a kept disk generation or a live mount still reads is retired instead: it leaves the "
            + "catalog for new assignments and its vdisk stays until 'dcd catalog gc' finds nothing reading "
            + "it.")
    static final class Rm implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;

        Rm(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            var catalog = context.catalog();
            // Decide and delete in one write session: no import or assign can make the vdisk needed between
            // the reference check and the delete (docs/catalog.md, "Sharing the catalog").
            List<Map<String, Object>> report = catalog.write(() -> {
                List<AppVersion> targets = new ArrayList<>();
                if (spec.contains("@")) {
                    targets.add(catalog.resolve(spec));
                } else {
                    targets.addAll(catalog.versions(spec));
                    if (targets.isEmpty()) {
                        catalog.resolve(spec);
                    }
                }
                for (AppVersion app : targets) {
                    List<String> vms = catalog.vmsUsing(app);
                    if (!vms.isEmpty()) {
                        throw new dev.dcd.catalog.CatalogException("app " + app.label() + " is assigned to VM(s) "
                                + String.join(", ", vms) + "; unassign it first");
                    }
                }
                VdiskReferences refs = References.compute(context);
                List<Map<String, Object>> rows = new ArrayList<>();
                for (AppVersion app : targets) {
                    VdiskReferences.Removal removal = refs.removalOf(catalog, app);
                    List<VdiskReferences.Holder> holders = refs.holdersOf(app.id());
                    String line;
                    String action;
                    switch (removal) {
                        case RETIRE -> {
                            catalog.retireApp(app);
                            action = "retired";
                            line = "retired " + app.label() + ": it is no longer listed or assignable, but its vdisk "
                                    + app.id().shortHex() + " stays on " + app.backend() + " while "
                                    + VdiskReferences.describe(holders, 5) + " reads it ('dcd catalog gc' deletes it once nothing does)";
                        }
                        case SHARED -> {
                            catalog.removeApp(app);
                            action = "removed";
                            line = "removed " + app.label() + " (vdisk " + app.id().shortHex() + " is shared and stays)";
                        }
                        default -> {
                            List<dev.dcd.catalog.KeptCopy> kept = catalog.keptCopies(app.id());
                            if (catalog.removeApp(app)) {
                                context.backend(app.backend()).delete(app.id());
                                action = "removed-with-vdisk";
                                line = "removed " + app.label() + " and its vdisk " + app.id().shortHex()
                                        + deleteKept(kept, context);
                            } else {
                                action = "removed";
                                line = "removed " + app.label() + " (vdisk " + app.id().shortHex() + " is shared and stays)";
                            }
                        }
                    }
                    if (context.json()) {
                        Map<String, Object> entry = new LinkedHashMap<>();
                        entry.put("app", app.name());
                        entry.put("version", app.version());
                        entry.put("contentId", app.contentId());
                        entry.put("backend", app.backend());
                        entry.put("action", action);
                        entry.put("heldBy", holders);
                        rows.add(entry);
                    } else {
                        context.out().println(line);
                    }
                }
                return rows;
            });
            if (context.json()) {
                Output.json(context.out(), report);
            }
            return 0;
        }
    }

    /**
     * Deletes the copies 'catalog move --keep-source' kept of a vdisk whose last app version was just removed (their
     * records went in the removal's batch); says what it deleted, or what is left as an orphan and why.
     */
    private static String deleteKept(List<dev.dcd.catalog.KeptCopy> kept, Context context) {
        StringBuilder said = new StringBuilder();
        for (dev.dcd.catalog.KeptCopy k : kept) {
            try {
                context.backend(k.backend()).delete(k.id());
                said.append(", and its kept copy on ").append(k.backend());
            } catch (IOException | RuntimeException e) {
                said.append("; its kept copy on ").append(k.backend()).append(" could not be deleted (")
                        .append(ErrorLine.of(e)).append(") and is left as an orphan ('dcd catalog gc --orphans' deletes it)");
            }
        }
        return said.toString();
    }

    @Command(name = "gc", description = "Delete the vdisks of removed (retired) app versions that no kept disk generation and no live "
            + "mount reads any more, on every backend, and spare copies: a vdisk on a backend the catalog does not name "
            + "for it (left by a move that was killed or could not delete its source), once no running server reads it "
            + "there. Copies kept by 'catalog move --keep-source' are left, and deleted only with --kept-copies. Vdisks on a "
            + "backend that the catalog does not know are listed, and deleted only with --orphans.")
    static final class Gc implements Callable<Integer> {
        private final Context context;
        @Option(names = "--dry-run", description = "say what would be deleted and change nothing")
        boolean dryRun;
        @Option(names = "--orphans", description = "also delete vdisks the catalog does not know at all (only when no"
                + " other dcd home shares the backend; 'dcd catalog rescan' registers them instead)")
        boolean orphans;
        @Option(names = "--kept-copies", description = "also delete the source copies 'dcd catalog move --keep-source'"
                + " kept, on the terms of spare copies (once no running server reads them there)")
        boolean keptCopies;
        @Option(names = "--server-timeout", paramLabel = "TIME", defaultValue = "10s",
                description = "how long each running mount or NBD server may take to say which copy it reads; one that"
                        + " does not answer keeps every spare copy (default: ${DEFAULT-VALUE})")
        String serverTimeout;

        Gc(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            java.time.Duration timeout = Move.duration(serverTimeout);
            var env = context.environment();
            GcService.Result result = new GcService(env, () -> References.compute(context),
                    new dev.dcd.service.LiveServers(env, timeout)).collect(new GcService.Request(dryRun, orphans, keptCopies));
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("dryRun", result.dryRun());
                json.put("reclaimedBytes", result.reclaimedBytes());
                json.put("vdisks", result.items());
                Output.json(context.out(), json);
                return 0;
            }
            var out = context.out();
            for (GcService.Item item : result.items()) {
                out.println(line(item, dryRun));
            }
            out.println((dryRun ? "would reclaim " : "reclaimed ") + Sizes.format(result.reclaimedBytes()) + " from "
                    + result.deletedCount() + " vdisk(s)" + (dryRun ? "; nothing was changed" : ""));
            return 0;
        }

        /** One line per vdisk copy: what was (or would be) done with it, and why. */
        static String line(GcService.Item item, boolean dryRun) {
            String deleted = dryRun ? "would delete " : "deleted ";
            String what = "vdisk " + item.contentId().substring(0, 12) + " on " + item.backend()
                    + (item.apps().isEmpty() ? "" : " (" + String.join(", ", item.apps()) + ")");
            return switch (item.action()) {
                case GcService.KEPT -> "kept " + what + ": read by " + VdiskReferences.describe(item.heldBy(), 5);
                case GcService.FORGET_SHARED -> (dryRun ? "would forget " : "forgot ") + what
                        + "; the vdisk stays, another app version uses it";
                case GcService.DELETE -> deleted + what + ", " + Sizes.format(item.bytes());
                case GcService.DELETE_ORPHAN -> deleted + what + ", " + Sizes.format(item.bytes()) + ", not in the catalog";
                case GcService.KEPT_COPY -> "kept copy of vdisk " + item.contentId().substring(0, 12) + " on "
                        + item.backend() + " (" + String.join(", ", item.apps()) + " " + (item.apps().size() == 1 ? "is" : "are")
                        + " on " + String.join(" and ", item.namedOn()) + "), " + Sizes.format(item.bytes())
                        + ": kept by 'dcd catalog move --keep-source'; 'dcd catalog gc --kept-copies' deletes it";
                case GcService.SPARE, GcService.DELETE_SPARE -> {
                    String spare = "spare copy of vdisk " + item.contentId().substring(0, 12) + " on " + item.backend()
                            + " (" + String.join(", ", item.apps()) + " " + (item.apps().size() == 1 ? "is" : "are")
                            + " on " + String.join(" and ", item.namedOn()) + "), " + Sizes.format(item.bytes());
                    yield item.action().equals(GcService.SPARE)
                            ? "kept " + spare + ": " + String.join("; ", item.readers())
                            : deleted + spare + "; no running server reads it there";
                }
                default -> "kept " + what + ", " + Sizes.format(item.bytes()) + ": not in the catalog ('dcd catalog rescan'"
                        + " registers it, 'dcd catalog gc --orphans' deletes it)";
            };
        }
    }

    @Command(name = "move", description = "Move APP[@VER] to another backend while VMs read it: copy, verify every chunk, "
            + "switch the catalog and every running mount, then delete the source copy. Run again after a move was "
            + "stopped past its switch, it finishes it: switches the servers still on the old copy and deletes that copy.")
    static final class Move implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;
        @Option(names = "--to", required = true, paramLabel = "BACKEND", description = "the backend to move the vdisk to")
        String to;
        @Option(names = "--keep-source", description = "keep the copy on the source backend; the catalog records it as kept,"
                + " so 'dcd catalog gc' leaves it ('dcd catalog gc --kept-copies' deletes it)")
        boolean keepSource;
        @Option(names = "--server-timeout", paramLabel = "TIME", defaultValue = "60s",
                description = "how long each running mount may take to switch before the move is undone (default: ${DEFAULT-VALUE})")
        String serverTimeout;

        Move(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            java.time.Duration timeout = duration(serverTimeout);
            var service = new dev.dcd.service.MoveService(context.environment());
            // Ctrl-C (SIGINT) or SIGTERM ends the JVM without an exception here: say in one line what the stop left.
            var err = context.err();
            Thread onStop = new Thread(() -> service.ifStoppedNow().ifPresent(line -> {
                err.println("dcd: " + line);
                err.flush();
            }), "move-stopped");
            Runtime.getRuntime().addShutdownHook(onStop);
            dev.dcd.service.MoveService.Moved moved;
            try {
                moved = service.move(new dev.dcd.service.MoveService.Request(spec, to, keepSource, timeout),
                        context.progress());
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(onStop);
                } catch (IllegalStateException stopping) {
                    // the JVM is already stopping; the hook has said what the move left
                }
            }
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("contentId", moved.id().hex());
                json.put("from", moved.from());
                json.put("to", moved.to());
                json.put("bytes", moved.bytes());
                json.put("apps", moved.switched().stream().map(AppVersion::label).toList());
                json.put("servers", moved.servers());
                json.put("sourceDeleted", moved.sourceKept() == null);
                json.put("finished", moved.finished());
                if (moved.sourceKept() != null) {
                    json.put("sourceKept", moved.sourceKept());
                }
                Output.json(context.out(), json);
                return 0;
            }
            String apps = String.join(", ", moved.switched().stream().map(AppVersion::label).toList());
            if (moved.finished()) {
                context.out().println("finished the move of " + apps + " (vdisk " + moved.id().shortHex() + ", "
                        + Sizes.format(moved.bytes()) + ") to " + moved.to() + ", where it verified; "
                        + (moved.servers().isEmpty() ? "no running server had to switch"
                                : "switched: " + String.join(", ", moved.servers()))
                        + "; " + (moved.sourceKept() == null ? "spare copy on " + moved.from() + " deleted"
                                : moved.sourceKept()));
                return 0;
            }
            context.out().println("moved " + apps + " (vdisk " + moved.id().shortHex() + ", " + Sizes.format(moved.bytes())
                    + ") from " + moved.from() + " to " + moved.to() + "; "
                    + (moved.servers().isEmpty() ? "no running server had to switch" : "switched: " + String.join(", ", moved.servers()))
                    + "; source copy " + (moved.sourceKept() == null ? "deleted" : "kept (" + moved.sourceKept() + ")"));
            return 0;
        }

        /** "60s", "2m", "500ms", or plain seconds. */
        static java.time.Duration duration(String text) {
            String t = text.strip().toLowerCase(java.util.Locale.ROOT);
            try {
                if (t.endsWith("ms")) {
                    return positive(java.time.Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2))), text);
                }
                if (t.endsWith("s")) {
                    return positive(java.time.Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1))), text);
                }
                if (t.endsWith("m")) {
                    return positive(java.time.Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1))), text);
                }
                return positive(java.time.Duration.ofSeconds(Long.parseLong(t)), text);
            } catch (NumberFormatException e) {
                throw new picocli.CommandLine.TypeConversionException("not a duration: '" + text + "' (e.g. 60s, 2m, 500ms)");
            }
        }

        private static java.time.Duration positive(java.time.Duration d, String text) {
            if (d.isNegative() || d.isZero()) {
                throw new picocli.CommandLine.TypeConversionException("the server timeout must be positive: '" + text + "'");
            }
            return d;
        }
    }

    @Command(name = "rescan", description = "Register vdisks found on backends that the catalog does not know.")
    static final class Rescan implements Callable<Integer> {
        private final Context context;
        @Option(names = "--backend", paramLabel = "NAME", description = "scan only this backend")
        String backend;

        Rescan(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            List<AppVersion> added = new Rescanner(context.catalog(), context::backend)
                    .rescan(backend, w -> context.err().println("dcd: warning: " + w));
            if (context.json()) {
                Output.json(context.out(), added);
                return 0;
            }
            for (AppVersion app : added) {
                context.out().println("registered " + app.label() + " (vdisk " + app.id().shortHex() + " on " + app.backend() + ")");
            }
            context.out().println(added.size() + " app version(s) registered");
            return 0;
        }
    }
}
