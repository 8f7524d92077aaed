package dev.dcd.shell.interactive;


import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The background readers of one shell or script session, by name. A stopped reader stays (with its final
 * figures) until a new one takes its name, so a script can stop a reader and then check what it saw. Closing
 * the session stops every reader still running.
 */
final class Readers {
    /** One named reader and the mount it reads. */
    record Entry(String name, ReaderTargets.Mount mount, BackgroundReader reader, int files, int diskSlices) {
    }

    private final Map<String, Entry> byName = new LinkedHashMap<>();

    synchronized void add(Entry entry) {
        Entry existing = byName.get(entry.name());
        if (existing != null && existing.reader().running()) {
            throw new ReaderException("reader '" + entry.name() + "' is running; stop it first with 'reader stop "
                    + entry.name() + "'");
        }
        byName.put(entry.name(), entry);
    }

    /** Refuses a name that a running reader has, before any work is done to start another. */
    synchronized void requireFree(String name) {
        Entry existing = byName.get(name);
        if (existing != null && existing.reader().running()) {
            throw new ReaderException("reader '" + name + "' is running; stop it first with 'reader stop " + name + "'");
        }
    }

    /** The reader named {@code name}; with no name, the only reader there is. */
    synchronized Entry get(String name) {
        if (name == null) {
            if (byName.size() == 1) {
                return byName.values().iterator().next();
            }
            throw new ReaderException(byName.isEmpty() ? "no reader; start one with 'reader start VM'"
                    : "there are " + byName.size() + " readers (" + String.join(", ", byName.keySet()) + "); name one");
        }
        Entry e = byName.get(name);
        if (e == null) {
            throw new ReaderException("no reader '" + name + "'" + (byName.isEmpty() ? "; start one with 'reader start"
                    + " NAME VM'" : " (readers: " + String.join(", ", byName.keySet()) + ")"));
        }
        return e;
    }

    synchronized List<String> names() {
        return new ArrayList<>(byName.keySet());
    }

    /** Stops the readers still running, saying so on {@code err}: a session never leaves threads reading. */
    void stopAll(PrintWriter err) {
        List<Entry> running;
        synchronized (this) {
            running = byName.values().stream().filter(e -> e.reader().running()).toList();
        }
        for (Entry e : running) {
            try {
                e.reader().stop();
                err.println("dcd: warning: reader '" + e.name() + "' was still running; stopped");
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        err.flush();
    }
}
