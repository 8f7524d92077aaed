package dev.dcd.shell.interactive;

import dev.dcd.shell.Cli;
import dev.dcd.shell.Context;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.io.Closeable;
import java.io.IOException;
import java.io.StringWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * One shell or script run: a single {@link Context} (catalog opened once) and the CLI's own command registry
 * plus the shell builtins {@code use}, {@code check} and {@code reader}. Both the interactive shell and script mode hand
 * their lines here as words.
 *
 * <p>The current-VM rule ({@link #rewrite}): once {@code use VM} has set a current VM, a command whose first
 * parameter is labelled {@code VM} gets the current VM inserted right after its name when
 * <ul>
 *   <li>no positional argument is given ({@code vm show}, {@code disk build}), or</li>
 *   <li>the command takes further positionals and the first one given is not an existing VM
 *       ({@code vm assign firefox}, {@code disk discard 2}).</li>
 * </ul>
 * {@code vm create}, {@code vm rm} and {@code use} never get one: creating or deleting a VM is always explicit.
 * The shortcuts {@code assign}, {@code unassign} and {@code build} stand for {@code vm assign}, {@code vm unassign}
 * and {@code disk build}.
 */
public final class ShellSession implements Closeable {
    /** The exit code of a command cancelled with Ctrl-C (as sh reports SIGINT). */
    public static final int CANCELLED = 130;
    static final Set<String> NEVER_IMPLICIT = Set.of("vm create", "vm rm", "use");
    static final Map<String, List<String>> SHORTCUTS = Map.of(
            "assign", List.of("vm", "assign"),
            "unassign", List.of("vm", "unassign"),
            "build", List.of("disk", "build"));
    static final Set<String> EXIT = Set.of("exit", "quit");

    private final Context context;
    private final Redirect out;
    private final Redirect err;
    private final boolean debug;
    /** The command tree, built on a thread of its own from the start (see {@link #commands()}). */
    private final FutureTask<CommandLine> commands;
    private final Readers readers = new Readers();
    private volatile String currentVm;
    private volatile boolean cancelled;

    /** The result of a command run with its output captured. */
    record Captured(int code, String out, String err) {
        /** The command's error message without the {@code dcd: } prefix, or a placeholder. */
        String firstErrorLine() {
            // The command's own one-line error; with --debug a stack trace comes before it.
            for (String line : err.split("\n")) {
                if (line.startsWith("dcd: ")) {
                    return line.substring(5);
                }
            }
            for (String line : err.split("\n")) {
                if (!line.isBlank()) {
                    return line;
                }
            }
            return "exit code " + code + " without a message";
        }
    }

    /**
     * @param context a context whose out and err write through {@code out} and {@code err}
     * @param debug   whether every command shows stack traces ({@code --debug} given to the shell)
     */
    ShellSession(Context context, Redirect out, Redirect err, boolean debug) {
        this.context = context;
        this.out = out;
        this.err = err;
        this.debug = debug;
        // picocli builds its model of some thirty commands by reflection: the slowest part of the shell's start.
        // It is built beside the terminal and line reader set-up, so the prompt does not wait for it; the first
        // command (or Tab) that needs it waits for the rest, or builds it itself if the thread never ran.
        this.commands = new FutureTask<>(this::registry);
        Thread builder = new Thread(commands, "dcd-commands");
        builder.setDaemon(true);
        builder.start();
    }

    /** The CLI's registry with the shell builtins added and examples in every usage message. */
    private CommandLine registry() {
        CommandLine cl = Cli.commandLine(context);
        cl.addSubcommand("use", configure(new CommandLine(new UseCommand(this))));
        CommandLine check = configure(new CommandLine(new CheckCommand(this)));
        // Everything after 'check KIND' is data, including a checked command's own --options.
        check.setStopAtPositional(true);
        check.setUnmatchedOptionsArePositionalParams(true);
        cl.addSubcommand("check", check);
        // configure() reaches the subcommands already added
        cl.addSubcommand("reader", configure(ReaderCommand.commandLine(this)));
        Examples.attach(cl);
        CommandLine.IExecutionExceptionHandler cliHandler = cl.getExecutionExceptionHandler();
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (cancelled) {
                context.err().println("dcd: cancelled");
                context.err().flush();
                return CANCELLED;
            }
            return cliHandler.handleExecutionException(ex, commandLine, parseResult);
        });
        return cl;
    }

    private CommandLine configure(CommandLine cl) {
        cl.setOut(context.out());
        cl.setErr(context.err());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl;
    }

    public Context context() {
        return context;
    }

    CommandLine commands() {
        commands.run(); // a no-op once the builder thread has started it
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return commands.get();
                } catch (InterruptedException e) {
                    interrupted = true; // the tree is needed to run anything: finish it, keep the interrupt
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException r) {
                        throw r;
                    }
                    if (e.getCause() instanceof Error error) {
                        throw error;
                    }
                    throw new IllegalStateException(e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    public Optional<String> currentVm() {
        return Optional.ofNullable(currentVm);
    }

    void setCurrentVm(String vm) {
        this.currentVm = vm;
    }

    boolean debug() {
        return debug;
    }

    /** The background readers this session started ({@code reader start}). */
    Readers readers() {
        return readers;
    }

    /** Asks the running command to stop: the caller interrupts its thread, this makes its failure read "cancelled". */
    void markCancelled() {
        cancelled = true;
    }

    /**
     * Runs one command line (already split into words) and returns its exit code; errors are printed, never
     * thrown. The catalog is released afterwards, so one-shot {@code dcd} commands and mount servers in other
     * processes can use it while the shell waits at its prompt.
     */
    public int execute(List<String> words) {
        try {
            return execute(commands(), words);
        } finally {
            release();
        }
    }

    /** Closes the catalog and backends; the context reopens them when the next command asks. */
    void release() {
        try {
            context.close();
        } catch (IOException | RuntimeException e) {
            context.err().println("dcd: warning: " + oneLine(e));
            context.err().flush();
        }
    }

    private int execute(CommandLine registry, List<String> words) {
        if (words.isEmpty()) {
            return Cli.OK;
        }
        cancelled = false;
        // Options set on one command must not leak into the next: the context outlives commands.
        context.setJson(false);
        context.setDebug(debug);
        try {
            List<String> args = rewrite(words);
            if (args.get(0).equals("help")) {
                return Help.print(this, args.subList(1, args.size()));
            }
            return registry.execute(args.toArray(String[]::new));
        } catch (RuntimeException e) {
            if (debug) {
                e.printStackTrace(context.err());
            }
            context.err().println("dcd: " + oneLine(e));
            context.err().flush();
            return Cli.FAILED;
        } finally {
            context.out().flush();
            context.err().flush();
        }
    }

    /**
     * Runs a command with its output captured instead of shown, on a registry of its own so that a command
     * running another ({@code check fails ...}) never re-enters the parser that is running it.
     */
    Captured capture(List<String> words) {
        StringWriter capturedOut = new StringWriter();
        StringWriter capturedErr = new StringWriter();
        Writer previousOut = out.swap(capturedOut);
        Writer previousErr = err.swap(capturedErr);
        int code;
        boolean json = context.json();
        try {
            code = execute(registry(), words);
        } finally {
            context.out().flush();
            context.err().flush();
            out.swap(previousOut);
            err.swap(previousErr);
            context.setJson(json);
            context.setDebug(debug);
        }
        return new Captured(code, capturedOut.toString(), capturedErr.toString());
    }

    /** Runs a command showing its output but holding back its error text, which the caller reports itself. */
    Captured executeHoldingErrors(List<String> words) {
        StringWriter capturedErr = new StringWriter();
        Writer previousErr = err.swap(capturedErr);
        int code;
        try {
            code = execute(words);
        } finally {
            context.err().flush();
            err.swap(previousErr);
        }
        return new Captured(code, "", capturedErr.toString());
    }

    /** Expands shortcuts and applies the current-VM rule (see the class comment). */
    List<String> rewrite(List<String> words) {
        List<String> w = new ArrayList<>(words);
        List<String> shortcut = SHORTCUTS.get(w.get(0));
        if (shortcut != null) {
            w.remove(0);
            w.addAll(0, shortcut);
        }
        String vm = currentVm;
        if (vm == null) {
            return w;
        }
        CommandPosition at = CommandPosition.walk(commands(), w);
        if (!takesVmFirst(at.command()) || w.contains("--help") || w.contains("-h")) {
            return w;
        }
        List<Integer> positionals = at.positionalIndexes(w);
        boolean takesMore = takesMoreThanOne(at.command());
        if (positionals.isEmpty() || (takesMore && !vmExists(w.get(positionals.get(0))))) {
            w.add(at.afterCommand(), vm);
        }
        return w;
    }

    /** True when the command's first positional parameter is a VM that the current VM may stand in for. */
    static boolean takesVmFirst(CommandLine command) {
        if (command.getParent() == null || NEVER_IMPLICIT.contains(path(command))) {
            return false;
        }
        List<PositionalParamSpec> params = command.getCommandSpec().positionalParameters();
        return !params.isEmpty() && params.get(0).index().min() == 0 && "VM".equals(params.get(0).paramLabel());
    }

    static boolean takesMoreThanOne(CommandLine command) {
        List<PositionalParamSpec> params = command.getCommandSpec().positionalParameters();
        return params.size() > 1 || params.get(0).arity().max() > 1;
    }

    /** "vm assign" for the command {@code dcd vm assign}. */
    static String path(CommandLine command) {
        String qualified = command.getCommandSpec().qualifiedName(" ");
        int space = qualified.indexOf(' ');
        return space < 0 ? "" : qualified.substring(space + 1);
    }

    boolean vmExists(String name) {
        try {
            return context.catalog().vm(name).isPresent();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static String oneLine(Throwable e) {
        return dev.dcd.shell.ErrorLine.of(e);
    }

    /** Stops the readers still running (saying so), then closes the catalog. */
    @Override
    public void close() throws IOException {
        readers.stopAll(context.err());
        context.close();
    }

    /**
     * Where a word list stands in the command tree: the deepest (sub)command its leading words name, and the
     * index just after that command's name.
     */
    record CommandPosition(CommandLine command, int afterCommand) {
        static CommandPosition walk(CommandLine root, List<String> words) {
            CommandLine cl = root;
            int i = 0;
            int after = 0;
            while (i < words.size()) {
                String word = words.get(i);
                if (word.equals("--")) {
                    break;
                }
                if (word.startsWith("-") && word.length() > 1) {
                    i += 1 + (takesValue(cl.getCommandSpec(), word) ? 1 : 0);
                    continue;
                }
                CommandLine sub = cl.getSubcommands().get(word);
                if (sub == null) {
                    break;
                }
                cl = sub;
                i++;
                after = i;
            }
            return new CommandPosition(cl, after);
        }

        /** Indexes of the words after the command that are positional arguments (not options or their values). */
        List<Integer> positionalIndexes(List<String> words) {
            List<Integer> found = new ArrayList<>();
            boolean onlyPositionals = false;
            for (int i = afterCommand; i < words.size(); i++) {
                String word = words.get(i);
                if (!onlyPositionals && word.equals("--")) {
                    onlyPositionals = true;
                } else if (!onlyPositionals && word.startsWith("-") && word.length() > 1) {
                    if (takesValue(command.getCommandSpec(), word)) {
                        i++;
                    }
                } else {
                    found.add(i);
                }
            }
            return found;
        }

        static boolean takesValue(CommandSpec spec, String word) {
            if (word.contains("=")) {
                return false;
            }
            OptionSpec option = spec.findOption(word);
            return option != null && option.arity().max() > 0 && !option.usageHelp() && !option.versionHelp()
                    && option.arity().min() > 0;
        }
    }
}
