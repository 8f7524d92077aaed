package dev.dcd.shell;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A one-shot command line builds only the commands it names, and nobody can tell from the output. */
class LazyCommandTreeTest {
    @TempDir
    Path home;

    private Context context() {
        return new Context(Map.of("DCD_HOME", home.toString()), new PrintWriter(new StringWriter()),
                new PrintWriter(new StringWriter()), CliHarness.CLOCK, false);
    }

    @Test
    void theTopLevelHelpIsTheSameAsTheFullTreesHelp() {
        String full = Cli.commandLine(context()).getUsageMessage(CommandLine.Help.Ansi.OFF);
        String lazy = Cli.commandLineFor(context(), new String[] {"--help"}).getUsageMessage(CommandLine.Help.Ansi.OFF);
        assertEquals(full, lazy);
    }

    @Test
    void everyTopLevelCommandNamedOnTheLineIsBuiltWithItsSubcommandsAndTheOthersAreNot() {
        CommandLine lazy = Cli.commandLineFor(context(), new String[] {"--home", "/x", "catalog", "list"});
        assertEquals(List.of("import", "list", "show", "rm", "move", "rescan", "gc", "prefetch"),
                List.copyOf(lazy.getSubcommands().get("catalog").getSubcommands().keySet()));
        assertTrue(lazy.getSubcommands().get("vm").getSubcommands().isEmpty(), "vm is only a help line");
    }

    @Test
    void eachCommandsHelpIsTheSameAsInTheFullTree() {
        CommandLine full = Cli.commandLine(context());
        for (String name : full.getSubcommands().keySet()) {
            CommandLine lazy = Cli.commandLineFor(context(), new String[] {name, "--help"});
            assertEquals(full.getSubcommands().get(name).getUsageMessage(CommandLine.Help.Ansi.OFF),
                    lazy.getSubcommands().get(name).getUsageMessage(CommandLine.Help.Ansi.OFF), name);
            for (String sub : full.getSubcommands().get(name).getSubcommands().keySet()) {
                assertEquals(full.getSubcommands().get(name).getSubcommands().get(sub).getUsageMessage(CommandLine.Help.Ansi.OFF),
                        lazy.getSubcommands().get(name).getSubcommands().get(sub).getUsageMessage(CommandLine.Help.Ansi.OFF),
                        name + " " + sub);
            }
        }
    }
}
