package dev.dcd.shell;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Catalog;
import dev.dcd.catalog.ImportRequest;
import dev.dcd.catalog.Importer;
import dev.dcd.catalog.Vm;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Walks through dcd with the sample apps: packs one as .tar.gz and one as .zip, imports those and the third
 * as a plain directory, creates VM {@code demo}, assigns the apps and shows the result. Safe to run again:
 * apps already imported are skipped and the VM is reused.
 */
@Command(name = "demo", description = {"Import the sample apps, create VM 'demo', assign them, build its disk, mount it",
        "under $DCD_HOME/mnt/demo and show it (idempotent)."})
final class DemoCommand implements Callable<Integer> {
    static final String VM = "demo";
    /** Each sample is imported through a different path, so the demo exercises three readers. */
    private static final String[] PACKING = {"tar.gz", "zip", "dir"};

    private final Context context;
    @Option(names = "--samples", paramLabel = "DIR", description = "sample apps (default: $DCD_SAMPLES, else ./samples)")
    Path samples;
    @Option(names = "--no-mount", description = "stop after building the disk (for machines without FUSE)")
    boolean noMount;
    @Option(names = "--size", paramLabel = "SIZE", defaultValue = "1G", description = "size of the demo VM's disk (default: ${DEFAULT-VALUE})")
    String size;

    DemoCommand(Context context) {
        this.context = context;
    }

    @Override
    public Integer call() throws Exception {
        Path dir = samples != null ? samples : Path.of(context.env().getOrDefault("DCD_SAMPLES", "samples"));
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("sample directory " + dir.toAbsolutePath() + " does not exist (pass --samples DIR)");
        }
        List<Path> apps;
        try (Stream<Path> list = Files.list(dir)) {
            apps = list.filter(Files::isDirectory).filter(d -> !d.getFileName().toString().equals("scripts")) // dcd scripts, not an app
                    .sorted().toList();
        }
        if (apps.isEmpty()) {
            throw new IllegalArgumentException("no sample apps in " + dir.toAbsolutePath());
        }
        var out = context.out();
        Catalog catalog = context.catalog();
        out.println("== dcd demo in " + context.home());
        Path work = context.tmpDir().resolve("demo");
        Files.createDirectories(work);
        List<AppVersion> imported = new ArrayList<>();
        try {
            for (int i = 0; i < apps.size(); i++) {
                imported.add(importSample(catalog, apps.get(i), PACKING[i % PACKING.length], work));
            }
        } finally {
            VmCommands.deleteTree(work);
        }
        Vm vm = catalog.vm(VM).orElse(null);
        if (vm == null) {
            run("vm", "create", VM, "--fs", "ext4", "--size", size);
            vm = catalog.requireVm(VM);
        } else {
            out.println("VM " + VM + " exists, reusing it");
        }
        List<String> toAssign = new ArrayList<>();
        for (AppVersion app : imported) {
            if (vm.assignment(app.name()).map(a -> a.version().equals(app.version())).orElse(false)) {
                out.println(app.label() + " is already assigned to " + VM);
            } else {
                toAssign.add(app.label());
            }
        }
        if (!toAssign.isEmpty()) {
            List<String> args = new ArrayList<>(List.of("vm", "assign", VM));
            args.addAll(toAssign);
            run(args.toArray(String[]::new));
        }
        out.println();
        out.println("== catalog");
        run("catalog", "list");
        out.println();
        out.println("== VM " + VM);
        run("vm", "show", VM);
        afterAssign(!toAssign.isEmpty());
        return 0;
    }

    /**
     * Builds the disk when there is none or the apps changed, mounts it under {@code $DCD_HOME/mnt/demo} and
     * shows it: the file tree and e2fsck's verdict on the raw disk, both read through the FUSE mount.
     */
    private void afterAssign(boolean appsChanged) throws IOException {
        var out = context.out();
        Vm vm = context.catalog().requireVm(VM);
        Path mountpoint = context.home().resolve("mnt").resolve(VM);
        Path mounted = StatsCommand.mountedVms(context.home()).get(VM);
        out.println();
        out.println("== disk");
        if (vm.currentGeneration() == 0 || appsChanged) {
            if (mounted != null) {
                run("umount", mounted.toString());
                mounted = null;
            }
            run("disk", "build", VM);
        } else {
            out.println("generation " + vm.currentGeneration() + " is up to date");
        }
        run("disk", "stat", VM);
        long offset = context.catalog().requireVm(VM).current().map(Vm.Generation::partitionOffset).orElse(1L << 20);
        context.releaseCatalog();
        if (noMount) {
            return;
        }
        out.println();
        out.println("== mount");
        if (mounted == null) {
            Files.createDirectories(mountpoint);
            run("mount", VM, mountpoint.toString());
            mounted = mountpoint;
        } else {
            out.println(VM + " is already mounted at " + mounted);
        }
        out.println();
        out.println("== ls -la " + mounted.resolve("files"));
        show(List.of("ls", "-la", "--color=never", mounted.resolve("files").toString()));
        out.println();
        Path image = mounted.resolve("disk.img");
        out.println("== e2fsck -fn " + image + " (the partition at byte " + offset + ")");
        int fsck = show(List.of("e2fsck", "-fn", image + "?offset=" + offset));
        if (fsck != 0) {
            throw new IOException("e2fsck found problems in " + image + " (exit " + fsck + ")");
        }
        out.println();
        out.println("The disk stays mounted: attach " + image + " to a VM or a loop device, browse "
                + mounted.resolve("files") + ", and run 'dcd umount " + mounted + "' when done.");
    }

    /** Runs a tool and copies what it prints into this command's output. */
    private int show(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String text = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        context.out().print(text);
        context.out().flush();
        try {
            return process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while running " + command.get(0));
        }
    }

    private void run(String... args) throws IOException {
        // Same registry and context as the outer command: what an interactive shell does for every line.
        int code = Cli.commandLine(context).execute(args);
        if (code != 0) {
            throw new IOException("demo step 'dcd " + String.join(" ", args) + "' failed");
        }
    }

    private AppVersion importSample(Catalog catalog, Path sample, String packing, Path work) throws IOException {
        String base = sample.getFileName().toString();
        Path source = switch (packing) {
            case "tar.gz" -> packTarGz(sample, work.resolve(base + ".tar.gz"));
            case "zip" -> packZip(sample, work.resolve(base + ".zip"));
            default -> sample;
        };
        int dash = base.lastIndexOf('-');
        if (dash > 0) {
            var existing = catalog.app(base.substring(0, dash), base.substring(dash + 1));
            if (existing.isPresent()) {
                context.out().println(existing.get().label() + " is already imported, skipping");
                return existing.get();
            }
        }
        Importer importer = new Importer(catalog, context::backend, context.tmpDir());
        AppVersion app = importer.importSource(ImportRequest.builder(source).build(), dev.dcd.backend.Progress.NONE,
                w -> context.err().println("dcd: warning: " + w)).app();
        context.out().println("imported " + app.label() + " from a " + (packing.equals("dir") ? "directory" : "." + packing)
                + ": " + app.fileCount() + " files");
        return app;
    }

    private static List<Path> tree(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> !p.equals(root)).sorted().toList();
        }
    }

    private static String relative(Path root, Path p) {
        return root.relativize(p).toString().replace('\\', '/');
    }

    static Path packTarGz(Path root, Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".part");
        try (OutputStream file = Files.newOutputStream(tmp);
             GzipCompressorOutputStream gz = new GzipCompressorOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(gz, StandardCharsets.UTF_8.name())) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Path p : tree(root)) {
                String name = relative(root, p);
                TarArchiveEntry entry;
                if (Files.isSymbolicLink(p)) {
                    entry = new TarArchiveEntry(name, TarArchiveEntry.LF_SYMLINK);
                    entry.setLinkName(Files.readSymbolicLink(p).toString());
                } else {
                    entry = new TarArchiveEntry(p.toFile(), Files.isDirectory(p) ? name + "/" : name);
                    entry.setMode((Files.isDirectory(p) ? 040000 : 0100000) | mode(p));
                }
                entry.setModTime(Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS));
                tar.putArchiveEntry(entry);
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.copy(p, tar);
                }
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        return target;
    }

    static Path packZip(Path root, Path target) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".part");
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(tmp)) {
            for (Path p : tree(root)) {
                String name = relative(root, p);
                boolean dir = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
                ZipArchiveEntry entry = new ZipArchiveEntry(dir ? name + "/" : name);
                entry.setLastModifiedTime(Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS));
                if (Files.isSymbolicLink(p)) {
                    entry.setUnixMode(0120777);
                    zip.putArchiveEntry(entry);
                    zip.write(Files.readSymbolicLink(p).toString().getBytes(StandardCharsets.UTF_8));
                } else {
                    entry.setUnixMode((dir ? 040000 : 0100000) | mode(p));
                    zip.putArchiveEntry(entry);
                    if (!dir) {
                        Files.copy(p, zip);
                    }
                }
                zip.closeArchiveEntry();
            }
            zip.finish();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        return target;
    }

    private static int mode(Path p) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        int mode = 0;
        for (PosixFilePermission perm : perms) {
            mode |= 1 << (8 - perm.ordinal());
        }
        return mode;
    }

}
