package dev.dcd.shell;

import picocli.CommandLine;

import java.lang.reflect.Constructor;
import java.nio.file.Path;

/**
 * The command registry. Built around a {@link Context} so the same tree serves the one-shot command line
 * and an interactive shell (which keeps one context open across commands).
 */
public final class Cli {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;

    private Cli() {
    }

    public static CommandLine commandLine(Context context) {
        CommandLine cl = new CommandLine(new DcdCommand(context), new ContextFactory(context));
        cl.setOut(context.out());
        cl.setErr(context.err());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (context.debug()) {
                ex.printStackTrace(context.err());
            }
            context.err().println("dcd: " + oneLine(ex));
            context.err().flush();
            return FAILED;
        });
        cl.setExitCodeExceptionMapper(ex -> ex instanceof CommandLine.ParameterException ? USAGE : FAILED);
        VmMounts mounts = new VmMounts(context);
        cl.addSubcommand(new dev.dcd.mount.MountCommand(mounts));
        cl.addSubcommand(new dev.dcd.mount.UmountCommand(mounts));
        cl.addSubcommand(new dev.dcd.mount.MountServeCommand(mounts));
        cl.addSubcommand(new dev.dcd.nbd.ServeCommand(mounts, context::json));
        cl.addSubcommand(new dev.dcd.nbd.ServeRunCommand(mounts));
        addHelpOptions(cl);
        return cl;
    }

    /**
     * Gives every subcommand {@code -h/--help}. The standard mixin would also add {@code --version}, which
     * {@code catalog import} needs for the app version.
     */
    private static void addHelpOptions(CommandLine cl) {
        CommandLine.Model.CommandSpec spec = cl.getCommandSpec();
        if (spec.findOption("--help") == null) {
            spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true)
                    .description("Show this help message and exit.").build());
        }
        for (CommandLine sub : cl.getSubcommands().values()) {
            addHelpOptions(sub);
        }
    }

    /** One line for the user: the message, or the exception type when there is none. */
    public static String oneLine(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName() + (e.getCause() != null ? ": " + oneLine(e.getCause()) : "");
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    /** Creates commands, handing the context to those whose constructor asks for it. */
    private static final class ContextFactory implements CommandLine.IFactory {
        private final Context context;
        private final CommandLine.IFactory fallback = CommandLine.defaultFactory();

        ContextFactory(Context context) {
            this.context = context;
        }

        @Override
        public <K> K create(Class<K> cls) throws Exception {
            try {
                Constructor<K> constructor = cls.getDeclaredConstructor(Context.class);
                constructor.setAccessible(true);
                return constructor.newInstance(context);
            } catch (NoSuchMethodException e) {
                return fallback.create(cls);
            }
        }
    }

    @CommandLine.Command(name = "dcd", mixinStandardHelpOptions = true, version = "dcd 0.1.0",
            description = "Dynamic content disks: import apps, assign them to VMs, synthesize disks.",
            subcommands = {BackendCommands.class, CatalogCommands.class, VmCommands.class, DiskCommands.class,
                    StatsCommand.class, DemoCommand.class, CommandLine.HelpCommand.class})
    static final class DcdCommand implements Runnable {
        private final Context context;
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        DcdCommand(Context context) {
            this.context = context;
        }

        @CommandLine.Option(names = "--home", paramLabel = "DIR", scope = CommandLine.ScopeType.INHERIT,
                description = "dcd home (default: $DCD_HOME, else ~/.dcd)")
        void home(Path home) {
            context.setHome(home);
        }

        @CommandLine.Option(names = "--json", scope = CommandLine.ScopeType.INHERIT,
                description = "machine-readable output")
        void json(boolean json) {
            context.setJson(json);
        }

        @CommandLine.Option(names = "--cache-size", paramLabel = "SIZE", scope = CommandLine.ScopeType.INHERIT,
                description = "shared block cache for remote backends, e.g. 4G (default: $DCD_CACHE_SIZE, else 2G)")
        void cacheSize(String size) {
            context.setCacheSize(dev.dcd.catalog.Sizes.parse(size));
        }

        @CommandLine.Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
                description = "stack traces on errors")
        void debug(boolean debug) {
            context.setDebug(debug);
        }

        @Override
        public void run() {
            throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
        }
    }
}
