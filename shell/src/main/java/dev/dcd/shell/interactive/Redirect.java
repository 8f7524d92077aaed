package dev.dcd.shell.interactive;

import java.io.IOException;
import java.io.Writer;

/**
 * The sink behind the context's writers. Commands keep the writer they were given, so capturing a nested
 * command's output ({@code check output ...}, script error lines) swaps where this sink points instead.
 */
final class Redirect extends Writer {
    private volatile Writer target;

    Redirect(Writer target) {
        this.target = target;
    }

    /** Points the sink at {@code next}; returns the previous target so the caller can restore it. */
    Writer swap(Writer next) {
        Writer previous = target;
        target = next;
        return previous;
    }

    @Override
    public void write(char[] buffer, int offset, int length) throws IOException {
        target.write(buffer, offset, length);
    }

    @Override
    public void write(String s, int offset, int length) throws IOException {
        target.write(s, offset, length);
    }

    @Override
    public void flush() throws IOException {
        target.flush();
    }

    @Override
    public void close() throws IOException {
        // The terminal or stdout behind us outlives the session; never close it from here.
        target.flush();
    }
}
