package dev.dcd.shell.interactive;

import dev.dcd.shell.Cli;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.List;

/** {@code help} and {@code help COMMAND...} in the shell: picocli usage, examples, and the shell's own rules. */
final class Help {
    static final String SHELL = """
            Shell:
              use VM                 make VM current; commands whose first parameter is a VM may leave it out
                                     (vm show, vm assign APP, disk build, disk stat, mount MOUNTPOINT, ...)
              assign, unassign, build  shortcuts for vm assign, vm unassign, disk build
              check ...              expectations for scripts (help check)
              reader start|status|wait|stop  a background reader checking a mounted VM (help reader)
              ${VAR}                 replaced by the environment variable VAR (undefined is an error)
              exit, quit, Ctrl-D     leave the shell (mounts keep running; use 'umount')
            Keys:
              Tab completes commands, options, apps, VMs, backends, files and mountpoints;
              Ctrl-R searches history; Ctrl-C cancels the running command; a line ending in \\ continues.
            """;

    /** picocli refuses narrower usage messages. */
    static final int MIN_USAGE_WIDTH = 55;

    private Help() {
    }

    static int print(ShellSession session, List<String> topic) {
        PrintWriter out = session.context().out();
        CommandLine command = session.commands();
        for (String word : topic) {
            CommandLine sub = word.startsWith("-") ? null : command.getSubcommands().get(word);
            if (sub == null) {
                List<String> shortcut = ShellSession.SHORTCUTS.get(word);
                if (shortcut != null && command == session.commands()) {
                    sub = command.getSubcommands().get(shortcut.get(0)).getSubcommands().get(shortcut.get(1));
                }
            }
            if (sub == null) {
                session.context().err().println("dcd: no command '" + String.join(" ", topic) + "' (see 'help')");
                session.context().err().flush();
                return Cli.USAGE;
            }
            command = sub;
        }
        int width = dev.dcd.shell.Table.width(out);
        if (width > 0) {
            command.setUsageHelpWidth(Math.max(MIN_USAGE_WIDTH, width - 1));
        }
        out.print(command.getUsageMessage());
        if (topic.isEmpty()) {
            out.println();
            out.print(SHELL);
        }
        out.flush();
        return Cli.OK;
    }
}
