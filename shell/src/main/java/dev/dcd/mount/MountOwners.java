package dev.dcd.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which {@code $DCD_HOME} serves a dcd mount. The kernel's mount table does not say, but the serving
 * process does: it was started as {@code … --home HOME mount-serve VM MOUNTPOINT} (or, in the foreground,
 * {@code … mount VM MOUNTPOINT} with the home from {@code --home}, {@code $DCD_HOME} or {@code ~/.dcd}).
 */
final class MountOwners {
    private static final Path PROC = Path.of("/proc");

    private MountOwners() {
    }

    /** The home of the live dcd process serving {@code mountpoint}, if one can be found. */
    static Optional<Path> homeServing(Path mountpoint) {
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(PROC, p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                Optional<Path> home = homeOf(proc, mountpoint);
                if (home.isPresent()) {
                    return home;
                }
            }
        } catch (IOException | RuntimeException e) {
            // No /proc to read: nobody can be named.
        }
        return Optional.empty();
    }

    private static Optional<Path> homeOf(Path proc, Path mountpoint) {
        try {
            byte[] cmdline = Files.readAllBytes(proc.resolve("cmdline"));
            String text = new String(cmdline, StandardCharsets.UTF_8);
            if (!text.contains(mountpoint.getFileName().toString())) {
                return Optional.empty();
            }
            List<String> args = split(text);
            return homeOf(args, () -> environ(proc), Files.readSymbolicLink(proc.resolve("cwd")), mountpoint);
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // gone, or not ours to inspect
        }
    }

    /** Supplies a process's environment only when the command line does not name the home. */
    interface Environment {
        Map<String, String> get() throws IOException;
    }

    /**
     * The home a dcd command line serves {@code mountpoint} from, or empty when the arguments are not a dcd
     * mount of that path. Pure, so the parsing is tested without processes.
     */
    /** Options of {@code mount} whose value is the next argument. */
    private static final java.util.Set<String> VALUE_OPTIONS = java.util.Set.of("--generation", "--home", "--cache-size");

    static Optional<Path> homeOf(List<String> args, Environment env, Path cwd, Path mountpoint) throws IOException {
        int command = args.indexOf(MountService.SERVE_COMMAND);
        if (command < 0) {
            command = args.indexOf("mount");
        }
        if (command < 0) {
            return Optional.empty();
        }
        // VM and MOUNTPOINT are the first two positionals after the command. The serving process is started
        // with them after "--"; a foreground mount has them among flags, some of which take a value.
        List<String> rest = args.subList(command + 1, args.size());
        List<String> positionals = new ArrayList<>();
        int dashes = rest.indexOf("--");
        if (dashes >= 0) {
            positionals.addAll(rest.subList(dashes + 1, rest.size()));
        } else {
            for (int i = 0; i < rest.size(); i++) {
                String arg = rest.get(i);
                if (VALUE_OPTIONS.contains(arg)) {
                    i++;
                } else if (!arg.startsWith("-")) {
                    positionals.add(arg);
                }
            }
        }
        if (positionals.size() < 2) {
            return Optional.empty();
        }
        Path served = cwd.resolve(positionals.get(1)).toAbsolutePath().normalize();
        if (!served.equals(mountpoint)) {
            return Optional.empty();
        }
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).equals("--home") && i + 1 < args.size()) {
                return Optional.of(cwd.resolve(args.get(i + 1)).toAbsolutePath().normalize());
            }
            if (args.get(i).startsWith("--home=")) {
                return Optional.of(cwd.resolve(args.get(i).substring("--home=".length())).toAbsolutePath().normalize());
            }
        }
        Map<String, String> environment = env.get();
        String home = environment.get("DCD_HOME");
        if (home != null && !home.isBlank()) {
            return Optional.of(cwd.resolve(home).toAbsolutePath().normalize());
        }
        String user = environment.get("HOME");
        return user == null ? Optional.empty() : Optional.of(Path.of(user, ".dcd").toAbsolutePath().normalize());
    }

    private static List<String> split(String nulSeparated) {
        List<String> args = new ArrayList<>(Arrays.asList(nulSeparated.split("\0")));
        args.removeIf(String::isEmpty);
        return args;
    }

    private static Map<String, String> environ(Path proc) throws IOException {
        Map<String, String> env = new HashMap<>();
        for (String entry : split(new String(Files.readAllBytes(proc.resolve("environ")), StandardCharsets.UTF_8))) {
            int eq = entry.indexOf('=');
            if (eq > 0) {
                env.put(entry.substring(0, eq), entry.substring(eq + 1));
            }
        }
        return env;
    }
}
