package dev.dcd.shell;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Sizes;
import dev.dcd.vdisk.PrefetchList;
import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlServer;
import dev.dcd.control.ControlSockets;
import dev.dcd.service.ServiceException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code dcd catalog prefetch show|clear|record APP@VER}: an app's start-up trace (docs/prefetch.md). */
@Command(name = "prefetch", description = "Show, clear or record an app version's start-up prefetch list (recorded on "
        + "mount, or on a running mount by command).",
        subcommands = {PrefetchCommands.Show.class, PrefetchCommands.Clear.class, PrefetchCommands.Record.class})
final class PrefetchCommands {

    /** The one-line summary {@code catalog show} prints. */
    static String summary(Optional<PrefetchList> list) {
        return list.map(l -> "prefetch list: " + l.size() + " chunks (" + Sizes.format(l.dataBytes())
                + "), recorded over " + l.windowSeconds() + " s").orElse("prefetch list: none");
    }

    @Command(name = "show", description = "Print the chunks of APP@VER's prefetch list in trace order.")
    static final class Show implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;

        Show(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            AppVersion app = context.catalog().resolve(spec);
            Optional<PrefetchList> list = context.catalog().prefetchList(app.id());
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("app", app.label());
                json.put("contentId", app.contentId());
                json.put("windowSeconds", list.map(PrefetchList::windowSeconds).orElse(null));
                json.put("chunks", list.map(PrefetchList::chunks).orElse(null));
                Output.json(context.out(), json);
                return 0;
            }
            context.out().println(app.label() + "  vdisk " + app.contentId());
            context.out().println(summary(list));
            if (list.isPresent()) {
                StringBuilder line = new StringBuilder();
                for (int c : list.get().chunks()) {
                    if (line.length() > 72) {
                        context.out().println(line.toString().stripTrailing());
                        line.setLength(0);
                    }
                    line.append(c).append(' ');
                }
                if (line.length() > 0) {
                    context.out().println(line.toString().stripTrailing());
                }
            }
            return 0;
        }
    }

    @Command(name = "clear", description = "Drop APP@VER's prefetch list; the next mount that reads the app records a new one.")
    static final class Clear implements Callable<Integer> {
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;

        Clear(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            AppVersion app = context.catalog().resolve(spec);
            boolean had = context.catalog().removePrefetchList(app.id());
            context.out().println(had ? "cleared the prefetch list of " + app.label()
                    : app.label() + " has no prefetch list");
            return 0;
        }
    }

    @Command(name = "record", description = "Record APP@VER's reads on the running mount (or NBD server) of VM for "
            + "SECONDS from now, then store them as its prefetch list in place of any. Start the app right after.")
    static final class Record implements Callable<Integer> {
        /** How long past the window the command waits for the server to store the list and answer. */
        static final Duration ANSWER_GRACE = Duration.ofSeconds(60);
        private final Context context;
        @Parameters(paramLabel = "APP[@VER]")
        String spec;
        @Option(names = "--vm", paramLabel = "VM", required = true, description = "the mounted (or served) VM to record on")
        String vm;
        @Option(names = "--seconds", paramLabel = "N", defaultValue = "30",
                description = "how long to record, from now (1 to 3600; default: ${DEFAULT-VALUE})")
        int seconds;

        Record(Context context) {
            this.context = context;
        }

        @Override
        public Integer call() throws Exception {
            if (seconds < 1 || seconds > ControlServer.MAX_RECORD_SECONDS) {
                throw new ServiceException("--seconds must be 1 to " + ControlServer.MAX_RECORD_SECONDS + ", not " + seconds);
            }
            AppVersion app = context.catalog().resolve(spec);
            context.releaseCatalog();
            Path socket = null;
            for (String kind : new String[] {ControlSockets.MOUNT, ControlSockets.SERVE}) {
                Path candidate = ControlSockets.socket(context.home(), kind, vm);
                if (Files.exists(candidate)) {
                    socket = candidate;
                    break;
                }
            }
            if (socket == null) {
                throw new ServiceException("VM '" + vm + "' is neither mounted nor served here ('dcd mount " + vm
                        + "' first): a recording needs its running chain");
            }
            if (!context.json()) {
                context.err().println("recording the reads of " + app.label() + " on VM " + vm + " for " + seconds
                        + " s; start it now");
                context.err().flush();
            }
            ControlClient.Answer answer;
            try {
                answer = ControlClient.request(socket, "record " + app.contentId() + " " + seconds,
                        Duration.ofSeconds(seconds).plus(ANSWER_GRACE));
            } catch (java.io.IOException e) {
                throw new ServiceException("VM '" + vm + "': " + e.getMessage() + " (is it still mounted?)", e);
            }
            if (!answer.ok()) {
                throw new ServiceException("VM '" + vm + "' could not record " + app.label() + ": " + answer.detail());
            }
            String detail = answer.detail();
            if (detail.equals("unused")) {
                throw new ServiceException("VM '" + vm + "' does not use " + app.label() + " (its running disk has no such "
                        + "vdisk)");
            }
            if (detail.equals("nothing")) {
                throw new ServiceException("VM '" + vm + "' read nothing of " + app.label() + " in " + seconds
                        + " s; its prefetch list is unchanged");
            }
            Optional<PrefetchList> list = context.catalog().prefetchList(app.id());
            if (context.json()) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("app", app.label());
                json.put("vm", vm);
                json.put("windowSeconds", seconds);
                json.put("chunks", list.map(PrefetchList::size).orElse(0));
                json.put("bytes", list.map(PrefetchList::dataBytes).orElse(0L));
                Output.json(context.out(), json);
                return 0;
            }
            context.out().println("stored the prefetch list of " + app.label() + " from VM " + vm + ": "
                    + summary(list).substring("prefetch list: ".length()));
            return 0;
        }
    }
}
