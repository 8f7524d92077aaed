package dev.dcd.shell.interactive;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.BackendEntry;
import dev.dcd.catalog.Vm;
import org.jline.builtins.Completers;
import org.jline.reader.Candidate;
import org.jline.reader.Completer;
import org.jline.reader.LineReader;
import org.jline.reader.ParsedLine;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Contextual Tab completion over the live command registry: command and subcommand names, options, and for
 * each parameter the things it names, read from the catalog as you type (apps and {@code @versions}, VMs,
 * backends), plus files and dcd mountpoints. Each command is paired with its parameter completers in
 * {@link #registry}; commands not listed there (or added later) are completed by their parameter labels.
 */
final class DcdCompleter implements Completer {
    /** Completes one parameter. */
    @FunctionalInterface
    interface Source {
        void complete(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException;
    }

    private final ShellSession session;
    private final Source vms = this::vms;
    private final Source apps = this::apps;
    private final Source appNames = this::appNames;
    private final Source backends = this::backends;
    private final Source mountpoints = this::mountpoints;
    private final Source files;
    private final Source directories;
    private final Source checkKinds = words("file", "fails", "exit", "output", "reader", "backend");
    private final Source readerNames = this::readerNames;
    /** Positional parameters of each command, by index; the last source repeats for varargs. */
    private final Map<String, List<Source>> registry;
    /** Values of options, by their longest name. */
    private final Map<String, Source> optionValues;

    DcdCompleter(ShellSession session) {
        this.session = session;
        Completers.FileNameCompleter fileNames = new Completers.FileNameCompleter();
        Completers.DirectoriesCompleter dirNames = new Completers.DirectoriesCompleter(
                () -> Path.of(System.getProperty("user.dir")));
        this.files = fileNames::complete;
        this.directories = dirNames::complete;
        this.registry = Map.ofEntries(
                Map.entry("use", List.of(vms)),
                Map.entry("catalog import", List.of(files)),
                Map.entry("catalog show", List.of(apps)),
                Map.entry("catalog rm", List.of(apps)),
                Map.entry("catalog move", List.of(apps)),
                Map.entry("vm assign", List.of(vms, apps)),
                Map.entry("vm unassign", List.of(vms, appNames)),
                Map.entry("vm show", List.of(vms)),
                Map.entry("vm rm", List.of(vms)),
                Map.entry("disk build", List.of(vms)),
                Map.entry("disk stat", List.of(vms)),
                Map.entry("disk generations", List.of(vms)),
                Map.entry("disk discard", List.of(vms)),
                Map.entry("disk export", List.of(vms, files)),
                Map.entry("stats", List.of(vms)),
                Map.entry("mount", List.of(vms, directories)),
                Map.entry("umount", List.of(mountpoints)),
                Map.entry("backend rm", List.of(backends)),
                Map.entry("backend check", List.of(backends)),
                Map.entry("check", List.of(checkKinds)),
                // [NAME] VM|MOUNTPOINT: a name is free text, so offer what may come in either place
                Map.entry("reader start", List.of(this::mountedVmsAndMountpoints)),
                Map.entry("reader status", List.of(readerNames)),
                Map.entry("reader wait", List.of(readerNames)),
                Map.entry("reader stop", List.of(readerNames)));
        this.optionValues = Map.of(
                "--backend", backends,
                "--to", backends,
                "--fs", words("ext4", "fat32"),
                "--format", words("raw", "vmdk"),
                "--home", directories);
    }

    @Override
    public void complete(LineReader reader, ParsedLine line, List<Candidate> candidates) {
        try {
            completeWords(reader, line, candidates);
        } catch (IOException | RuntimeException e) {
            // Completion must never break the prompt; a closed or busy catalog just offers nothing.
        } finally {
            session.release();
        }
    }

    private void completeWords(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        List<String> before = new ArrayList<>(line.words().subList(0, line.wordIndex()));
        String current = line.word().substring(0, line.wordCursor());
        if (!before.isEmpty() && ShellSession.SHORTCUTS.containsKey(before.get(0))) {
            List<String> expanded = new ArrayList<>(ShellSession.SHORTCUTS.get(before.get(0)));
            expanded.addAll(before.subList(1, before.size()));
            before = expanded;
        }
        if (!before.isEmpty() && before.get(0).equals("help")) {
            helpTopics(before.subList(1, before.size()), out);
            return;
        }
        ShellSession.CommandPosition at = ShellSession.CommandPosition.walk(session.commands(), before);
        CommandLine command = at.command();
        CommandSpec spec = command.getCommandSpec();
        if (!before.isEmpty()) {
            String last = before.get(before.size() - 1);
            if (last.startsWith("-") && ShellSession.CommandPosition.takesValue(spec, last)) {
                OptionSpec option = spec.findOption(last);
                Source source = optionValues.get(option.longestName());
                if (source == null && isPath(option.type())) {
                    source = files;
                }
                if (source != null) {
                    source.complete(reader, line, out);
                }
                return;
            }
        }
        if (current.startsWith("-")) {
            for (OptionSpec option : spec.options()) {
                if (!option.hidden()) {
                    for (String name : option.names()) {
                        out.add(new Candidate(name, name, "options", first(option.description()), null, null, true));
                    }
                }
            }
            return;
        }
        List<Integer> positionals = at.positionalIndexes(before);
        if (positionals.isEmpty() && !command.getSubcommands().isEmpty()) {
            for (Map.Entry<String, CommandLine> sub : command.getSubcommands().entrySet()) {
                out.add(new Candidate(sub.getKey(), sub.getKey(), "commands",
                        first(sub.getValue().getCommandSpec().usageMessage().description()), null, null, true));
            }
            if (command == session.commands()) {
                for (String shortcut : ShellSession.SHORTCUTS.keySet()) {
                    out.add(new Candidate(shortcut, shortcut, "shortcuts",
                            String.join(" ", ShellSession.SHORTCUTS.get(shortcut)), null, null, true));
                }
                for (String exit : ShellSession.EXIT) {
                    out.add(new Candidate(exit, exit, "shortcuts", "leave the shell", null, null, true));
                }
            }
            return;
        }
        int index = positionals.size();
        if (session.currentVm().isPresent() && ShellSession.takesVmFirst(command)) {
            if (index == 0) {
                // Either the VM, or (the current VM standing in for it) the parameter after it.
                parameter(command, 0).complete(reader, line, out);
                if (ShellSession.takesMoreThanOne(command)) {
                    parameter(command, 1).complete(reader, line, out);
                }
                return;
            }
            if (!session.vmExists(before.get(positionals.get(0)))) {
                index++;
            }
        }
        parameter(command, index).complete(reader, line, out);
    }

    /** The completer for positional parameter {@code index} of a command. */
    Source parameter(CommandLine command, int index) {
        List<Source> sources = registry.get(ShellSession.path(command));
        if (sources != null) {
            return sources.get(Math.min(index, sources.size() - 1));
        }
        for (PositionalParamSpec param : command.getCommandSpec().positionalParameters()) {
            if (param.index().min() <= index && index <= param.index().max()) {
                return byLabel(command, param);
            }
        }
        return (reader, line, out) -> { };
    }

    private Source byLabel(CommandLine command, PositionalParamSpec param) {
        String label = param.paramLabel();
        return switch (label) {
            case "VM" -> vms;
            case "APP", "APP[@VER]" -> apps;
            case "MOUNTPOINT" -> ShellSession.path(command).startsWith("umount") ? mountpoints : directories;
            case "NAME" -> ShellSession.path(command).startsWith("backend") ? backends : (reader, line, out) -> { };
            default -> isPath(param.type()) || Set.of("FILE", "SOURCE", "PATH", "DIR").contains(label)
                    ? files : (reader, line, out) -> { };
        };
    }

    private void helpTopics(List<String> topic, List<Candidate> out) {
        CommandLine command = session.commands();
        for (String word : topic) {
            command = command.getSubcommands().get(word);
            if (command == null) {
                return;
            }
        }
        for (Map.Entry<String, CommandLine> sub : command.getSubcommands().entrySet()) {
            out.add(new Candidate(sub.getKey(), sub.getKey(), "commands",
                    first(sub.getValue().getCommandSpec().usageMessage().description()), null, null, true));
        }
        if (topic.isEmpty()) {
            for (String shortcut : ShellSession.SHORTCUTS.keySet()) {
                out.add(new Candidate(shortcut, shortcut, "shortcuts", null, null, null, true));
            }
        }
    }

    private void vms(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        for (Vm vm : session.context().catalog().vms()) {
            out.add(new Candidate(vm.name(), vm.name(), "VMs", vm.fsType() + ", " + vm.apps().size() + " app(s)",
                    null, null, true));
        }
    }

    private void apps(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        Set<String> names = new LinkedHashSet<>();
        for (AppVersion app : session.context().catalog().apps()) {
            names.add(app.name());
            out.add(new Candidate(app.label(), app.label(), "app versions", app.fileCount() + " files", null, null, true));
        }
        for (String name : names) {
            out.add(new Candidate(name, name, "apps", "newest version", null, null, true));
        }
    }

    private void appNames(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        Set<String> names = new LinkedHashSet<>();
        for (AppVersion app : session.context().catalog().apps()) {
            names.add(app.name());
        }
        for (String name : names) {
            out.add(new Candidate(name, name, "apps", null, null, null, true));
        }
    }

    private void backends(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        for (BackendEntry backend : session.context().catalog().backends()) {
            out.add(new Candidate(backend.name(), backend.name(), "backends", backend.uri().toString(), null, null, true));
        }
    }

    private void mountpoints(LineReader reader, ParsedLine line, List<Candidate> out) {
        for (String mountpoint : Mounts.list(session.context().home())) {
            out.add(new Candidate(mountpoint, mountpoint, "mounts", null, null, null, true));
        }
    }

    private void readerNames(LineReader reader, ParsedLine line, List<Candidate> out) {
        for (String name : session.readers().names()) {
            out.add(new Candidate(name, name, "readers", null, null, null, true));
        }
    }

    /** What a reader can read: VMs that are mounted, and their mountpoints. */
    private void mountedVmsAndMountpoints(LineReader reader, ParsedLine line, List<Candidate> out) throws IOException {
        for (Map.Entry<String, Path> mount : dev.dcd.mount.MountService.liveMounts(session.context().home()).entrySet()) {
            out.add(new Candidate(mount.getKey(), mount.getKey(), "mounted VMs", mount.getValue().toString(), null, null, true));
            String dir = mount.getValue().toString();
            out.add(new Candidate(dir, dir, "mounts", null, null, null, true));
        }
    }

    private static Source words(String... words) {
        return (reader, line, out) -> {
            for (String word : words) {
                out.add(new Candidate(word, word, null, null, null, null, true));
            }
        };
    }

    private static boolean isPath(Class<?> type) {
        return type == Path.class || type == File.class;
    }

    private static String first(String[] description) {
        return description == null || description.length == 0 ? null : description[0];
    }
}
