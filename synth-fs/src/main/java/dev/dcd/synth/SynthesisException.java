package dev.dcd.synth;

import java.io.IOException;
import java.util.List;

/**
 * The apps cannot become a disk as asked: conflicts, names the filesystem forbids, not enough space.
 * The message is one line; {@link #details()} lists every offending path with its app.
 */
public final class SynthesisException extends IOException {
    private final List<String> details;

    public SynthesisException(String message, List<String> details) {
        super(message + (details.isEmpty() ? "" : ": " + summarize(details)));
        this.details = List.copyOf(details);
    }

    public SynthesisException(String message) {
        this(message, List.of());
    }

    public List<String> details() {
        return details;
    }

    private static String summarize(List<String> details) {
        int shown = Math.min(5, details.size());
        String head = String.join("; ", details.subList(0, shown));
        return details.size() > shown ? head + "; and " + (details.size() - shown) + " more" : head;
    }
}
