package dev.dcd.mount;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds the command line that starts this same application again in a new JVM. */
final class Relaunch {
    private Relaunch() {
    }

    static List<String> sameJvm() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // The serving process is long-lived but small; a modest heap keeps several mounts cheap.
        cmd.add("-Xss1m");
        // jnr-fuse decodes every path with the default charset; names on the disk are UTF-8.
        cmd.add("-Dfile.encoding=UTF-8");
        String launched = System.getProperty("sun.java.command", "").split(" ", 2)[0];
        String mainClass = System.getProperty("dcd.mainClass");
        if (mainClass == null && launched.endsWith(".jar")) {
            cmd.add("-jar");
            cmd.add(launched);
            return cmd;
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass != null ? mainClass : launched);
        return cmd;
    }
}
