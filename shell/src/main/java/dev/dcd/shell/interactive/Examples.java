package dev.dcd.shell.interactive;

import picocli.CommandLine;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Worked examples, shown at the end of {@code help COMMAND} (and {@code COMMAND --help}) in the shell. */
final class Examples {
    static final Map<String, List<String>> BY_COMMAND = examples();

    private Examples() {
    }

    private static Map<String, List<String>> examples() {
        Map<String, List<String>> m = new LinkedHashMap<>();
        m.put("backend add", List.of("backend add nas local:///srv/dcd-vdisks"));
        m.put("backend list", List.of("backend list", "--json backend list"));
        m.put("backend rm", List.of("backend rm nas"));
        m.put("backend check", List.of("backend check local"));
        m.put("catalog import", List.of("catalog import samples/greet-1.0.0",
                "catalog import firefox-115.0.tar.xz --backend nas",
                "catalog import ./build/out --name tool --version 2.0"));
        m.put("catalog list", List.of("catalog list", "--json catalog list"));
        m.put("catalog show", List.of("catalog show greet", "catalog show greet@1.0.0 --json"));
        m.put("catalog rm", List.of("catalog rm greet@1.0.0", "catalog rm greet        (every version)"));
        m.put("catalog rescan", List.of("catalog rescan", "catalog rescan --backend nas"));
        m.put("catalog gc", List.of("catalog gc --dry-run", "catalog gc", "--json catalog gc"));
        m.put("vm create", List.of("vm create web1", "vm create kiosk --fs fat32 --size 512M"));
        m.put("vm assign", List.of("vm assign web1 greet webapp@2.1.0",
                "vm assign web1 handbook --priority 10",
                "assign greet            (after 'use web1')"));
        m.put("vm unassign", List.of("vm unassign web1 greet", "unassign greet          (after 'use web1')"));
        m.put("vm list", List.of("vm list"));
        m.put("vm show", List.of("vm show web1", "vm show                 (after 'use web1')"));
        m.put("vm rm", List.of("vm rm web1"));
        m.put("disk build", List.of("disk build web1", "build                   (after 'use web1')"));
        m.put("disk generations", List.of("disk generations web1"));
        m.put("disk discard", List.of("disk discard web1 1", "disk discard web1 3 --force"));
        m.put("disk stat", List.of("disk stat web1", "disk stat --generation 1   (after 'use web1')"));
        m.put("disk export", List.of("disk export web1 /tmp/web1.img", "disk export web1 /tmp/web1.vmdk --format vmdk"));
        m.put("mount", List.of("mount web1 /mnt/web1", "mount /mnt/web1         (after 'use web1')"));
        m.put("umount", List.of("umount /mnt/web1"));
        m.put("use", List.of("use web1", "use", "use --none"));
        m.put("check", List.of("check file /mnt/web1/disk.img exists",
                "check file /tmp/web1.img sha256 HEX     (HEX: 64 hex digits)",
                "check fails vm create web1          (it exists already)",
                "check exit 2 vm create",
                "check output catalog list contains greet",
                "check reader web1 errors == 0",
                "check reader web1 stall-ms <= 200",
                "check backend greet@1.0.0 is local"));
        m.put("reader start", List.of("reader start web1", "reader start r1 /mnt/web1 --disk 0:16M --threads 2",
                "reader start r2 web1 --files --disk all"));
        m.put("reader status", List.of("reader status", "reader status r1 --json"));
        m.put("reader wait", List.of("reader wait r1", "reader wait r1 --passes 2 --timeout 60"));
        m.put("reader stop", List.of("reader stop r1", "reader stop r1 --json"));
        return m;
    }

    /** Adds an Examples section to the usage message of every command that has examples. */
    static void attach(CommandLine root) {
        for (CommandLine sub : root.getSubcommands().values()) {
            List<String> lines = BY_COMMAND.get(ShellSession.path(sub));
            if (lines != null) {
                String[] footer = lines.stream().map(l -> "  " + l.replace("%", "%%")).toArray(String[]::new);
                sub.getCommandSpec().usageMessage().footerHeading("%nExamples:%n").footer(footer);
            }
            attach(sub);
        }
    }
}
