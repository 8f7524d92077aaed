package dev.dcd.shell;

import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Sizes;
import dev.dcd.vdisk.PrefetchList;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code dcd catalog prefetch show|clear APP@VER}: an app's start-up trace (docs/prefetch.md). */
@Command(name = "prefetch", description = "Show or clear an app version's start-up prefetch list (recorded on mount).",
        subcommands = {PrefetchCommands.Show.class, PrefetchCommands.Clear.class})
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
}
