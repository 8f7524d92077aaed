package dev.dcd.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Who this process runs as, without native calls: /proc/self is owned by the process's effective ids. */
final class Ids {
    private Ids() {
    }

    static long uid() {
        return attribute("unix:uid");
    }

    static long gid() {
        return attribute("unix:gid");
    }

    private static long attribute(String name) {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), name)).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            return 0;
        }
    }

    /** Whether /etc/fuse.conf lets non-root users ask for allow_other or allow_root. */
    static boolean userAllowOther() {
        try {
            return Files.readAllLines(Path.of("/etc/fuse.conf")).stream().map(String::strip)
                    .anyMatch(l -> l.equals("user_allow_other"));
        } catch (IOException e) {
            return false;
        }
    }
}
