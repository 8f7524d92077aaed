package dev.dcd.service;

import dev.dcd.backend.Progress;

/**
 * Where a service reports how far a long task has come. The CLI renders a task as a progress bar on a terminal
 * (and as nothing in scripts); tests and the demo may pass {@link #NONE}.
 */
@FunctionalInterface
public interface ProgressSink {
    ProgressSink NONE = (task, total) -> Task.NONE;

    /**
     * Begins a task.
     *
     * @param task  a short name, such as {@code build} or {@code import}
     * @param total bytes expected, or -1 when unknown
     */
    Task start(String task, long total);

    /** One task's progress; closed when the task ends, however it ends. */
    interface Task extends Progress, AutoCloseable {
        Task NONE = new Task() {
            @Override
            public void advance(long done) {
            }

            @Override
            public void close() {
            }
        };

        @Override
        void close();
    }
}
