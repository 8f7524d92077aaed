package dev.dcd.backend;

/** Receives byte counts from long operations; the shell turns them into a progress bar. */
@FunctionalInterface
public interface Progress {
    Progress NONE = done -> {
    };

    /** {@code done} is cumulative. */
    void advance(long done);
}
