package dev.dcd.shell;

import dev.dcd.catalog.Vm;
import dev.dcd.synth.AppLayer;

import java.io.IOException;
import java.util.List;

/** The CLI's door to {@link dev.dcd.service.AppLayers}, for code that holds a {@link Context}. */
public final class AppLayers {
    private AppLayers() {
    }

    public static List<AppLayer> of(Context context, Vm vm) throws IOException {
        return dev.dcd.service.AppLayers.of(context.environment(), vm);
    }
}
