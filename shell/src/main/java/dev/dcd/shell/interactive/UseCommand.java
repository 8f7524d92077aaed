package dev.dcd.shell.interactive;

import dev.dcd.catalog.Vm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

@Command(name = "use", description = {"Set the current VM, shown in the prompt; commands that take a VM first may then omit it.",
                "'vm show' means 'vm show <current>', 'assign firefox' means 'vm assign <current> firefox'",
                "(see 'help' for the exact rule). Without VM: print the current VM."})
final class UseCommand implements Callable<Integer> {
    private final ShellSession session;
    @Parameters(arity = "0..1", paramLabel = "VM")
    String vm;
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;
    @Option(names = "--none", description = "forget the current VM")
    boolean none;

    UseCommand(ShellSession session) {
        this.session = session;
    }

    @Override
    public Integer call() throws Exception {
        var out = session.context().out();
        if (none) {
            session.setCurrentVm(null);
            out.println("no current VM");
        } else if (vm == null) {
            out.println(session.currentVm().map(v -> "current VM: " + v).orElse("no current VM (set one with 'use VM')"));
        } else {
            Vm found = session.context().catalog().requireVm(vm);
            session.setCurrentVm(found.name());
            out.println("using VM " + found.name());
        }
        out.flush();
        return 0;
    }
}
