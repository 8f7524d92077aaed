package dev.dcd.shell;

import picocli.CommandLine;

import java.lang.reflect.Constructor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

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

    /** The top-level commands, in the order help lists them ({@code mount}, {@code umount} follow). */
    private static final List<Class<?>> TOP = List.of(BackendCommands.class, CatalogCommands.class, VmCommands.class,
            DiskCommands.class, StatsCommand.class, DemoCommand.class, CommandLine.HelpCommand.class);

    /** The whole command tree: what the interactive shell and its completion need. */
    public static CommandLine commandLine(Context context) {
        return build(context, name -> true);
    }

    /**
     * The tree for one command line. Only the top-level commands named somewhere in {@code args} are built in
     * full; the others are just a name and a description, enough for the top-level help and for "did you
     * mean". Picocli builds its model of a command by reflection, and building all thirty cost more than
     * most commands take to run.
     */
    public static CommandLine commandLineFor(Context context, String[] args) {
        Set<String> words = new HashSet<>(Arrays.asList(args));
        return build(context, words::contains);
    }

    private static CommandLine build(Context context, Predicate<String> full) {
        ContextFactory factory = new ContextFactory(context);
        CommandLine cl = new CommandLine(new DcdCommand(context), factory);
        for (Class<?> command : TOP) {
            addSubcommand(cl, command, full, () -> command);
        }
        VmMounts mounts = new VmMounts(context);
        addSubcommand(cl, dev.dcd.mount.MountCommand.class, full, () -> new dev.dcd.mount.MountCommand(mounts));
        addSubcommand(cl, dev.dcd.mount.UmountCommand.class, full, () -> new dev.dcd.mount.UmountCommand(mounts));
        addSubcommand(cl, dev.dcd.mount.MountServeCommand.class, full, () -> new dev.dcd.mount.MountServeCommand(mounts));
        addSubcommand(cl, dev.dcd.nbd.ServeCommand.class, full, () -> new dev.dcd.nbd.ServeCommand(mounts, context::json));
        addSubcommand(cl, dev.dcd.nbd.ServeRunCommand.class, full, () -> new dev.dcd.nbd.ServeRunCommand(mounts));
        // after the subcommands: these setters reach only the subcommands already added
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
        addHelpOptions(cl);
        return cl;
    }

    /** Adds the command in full when {@code full} accepts its name or an alias, else only its help line. */
    private static void addSubcommand(CommandLine cl, Class<?> type, Predicate<String> full,
                                      java.util.function.Supplier<Object> command) {
        CommandLine.Command annotation = type.getAnnotation(CommandLine.Command.class);
        boolean wanted = full.test(annotation.name()) || Arrays.stream(annotation.aliases()).anyMatch(full);
        if (wanted) {
            cl.addSubcommand(command.get());
            return;
        }
        CommandLine.Model.CommandSpec stub = CommandLine.Model.CommandSpec.create()
                .name(annotation.name()).aliases(annotation.aliases());
        stub.usageMessage().header(annotation.header()).description(annotation.description()).hidden(annotation.hidden());
        cl.addSubcommand(annotation.name(), stub);
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

    /** One line for the user: see {@link ErrorLine}. */
    public static String oneLine(Throwable e) {
        return ErrorLine.of(e);
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
            description = "Dynamic content disks: import apps, assign them to VMs, synthesize disks.")
    // no subcommands here: build() adds them, in full only when the command line names them
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
