package dev.dcd.shell;

import dev.dcd.backend.Backend;
import dev.dcd.block.BlockDevice;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.ImportResult;
import dev.dcd.catalog.Importer;
import dev.dcd.catalog.Rescanner;
import dev.dcd.catalog.Sizes;
import dev.dcd.vdisk.AppVdisk;
import dev.dcd.vdisk.Entry;
import dev.dcd.vdisk.Manifest;
import dev.dcd.vdisk.VdiskPaths;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "catalog", description = "Import, list, inspect and remove apps.",
        subcommands = {CatalogCommands.Import.class, CatalogCommands.ListCmd.class, CatalogCommands.Show.class,
                CatalogCommands.Rm.class, CatalogCommands.Rescan.class})
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
            Importer importer = new Importer(context.catalog(), context::backend, context.tmpDir());
            ImportResult result;
            try (ProgressReporter progress = new ProgressReporter(context, "import", Importer.sourceBytes(source))) {
                result = importer.importSource(request, progress, w -> context.err().println("dcd: warning: " + w));
            }
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
            Output.Table table = new Output.Table("APP", "VERSION", "FILES", "SIZE", "BACKEND", "VDISK", "IMPORTED").right(2, 3);
            for (AppVersion a : apps) {
                table.row(a.name(), a.version(), a.fileCount(), Sizes.format(a.byteCount()), a.backend(),
                        a.id().shortHex(), Output.time(a.importedAt()));
            }
            table.print(context.out());
            return 0;
        }
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
                Output.json(context.out(), json);
                return 0;
            }
            context.out().println(app.label() + "  vdisk " + app.contentId() + " on " + app.backend());
            context.out().println(app.fileCount() + " files, " + Sizes.format(app.byteCount()) + ", imported "
                    + Output.time(app.importedAt()));
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

        private static String typeLetter(Entry e) {
            return switch (e.type()) {
                case FILE -> "file";
                case DIRECTORY -> "dir";
                case SYMLINK -> "link";
                case HARDLINK -> "hard";
            };
        }
    }

    @Command(name = "rm", description = "Remove APP@VER (or every version of APP); refused while a VM uses it.")
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
            for (AppVersion app : targets) {
                boolean orphaned = catalog.removeApp(app);
                if (orphaned) {
                    Backend backend = context.backend(app.backend());
                    backend.delete(app.id());
                }
                context.out().println("removed " + app.label() + (orphaned ? " and its vdisk " + app.id().shortHex()
                        : " (vdisk " + app.id().shortHex() + " is shared and stays)"));
            }
            return 0;
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
