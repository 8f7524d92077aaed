package dev.dcd.synth;

import java.util.ServiceLoader;

/** Finds the synthesizer for a filesystem type. */
public final class Synthesizers {
    private Synthesizers() {
    }

    public static Synthesizer forType(FsType type) {
        for (Synthesizer s : ServiceLoader.load(Synthesizer.class, Synthesizers.class.getClassLoader())) {
            if (s.type() == type) {
                return s;
            }
        }
        throw new IllegalStateException("no synthesizer for " + type.id() + " is installed");
    }
}
