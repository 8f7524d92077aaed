package dev.dcd.shell;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr that only appears when stderr is a terminal and the work has already taken
 * more than a second, so quick commands and scripts see no noise.
 */
final class ProgressReporter implements dev.dcd.service.ProgressSink.Task {
    /** How long work runs before a bar appears; measured on the context's clock, so tests move it. */
    static final long DELAY_MILLIS = 1000;

    private final Context context;
    private final String task;
    private final long total;
    private final long start;
    private ProgressBar bar;

    /** @param total bytes expected, or -1 when unknown */
    ProgressReporter(Context context, String task, long total) {
        this.context = context;
        this.task = task;
        this.total = total;
        this.start = context.clock().millis();
    }

    @Override
    public void advance(long done) {
        if (bar == null) {
            if (!context.interactiveErr() || context.clock().millis() - start < DELAY_MILLIS) {
                return;
            }
            ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                    .setStyle(ProgressBarStyle.ASCII).setUnit(" MiB", 1 << 20).showSpeed().continuousUpdate();
            int width = Table.width(context.err());
            if (width > 0) {
                // Inside the interactive shell: a fixed width keeps progressbar from opening (and closing)
                // a second terminal that would take over the shell's Ctrl-C handler.
                builder.setConsumer(new ConsoleProgressBarConsumer(System.err, width - 1));
            }
            bar = builder.build();
        }
        bar.stepTo(done);
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
