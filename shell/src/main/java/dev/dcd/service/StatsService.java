package dev.dcd.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dcd.catalog.CatalogException;
import dev.dcd.mount.MountService;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The live statistics of mounted VMs. The counters live in each mount's serving process, which publishes them
 * as {@code MOUNTPOINT/stats.json}; this service finds the live mounts and reads that file.
 */
public final class StatsService {
    /** Built on first use, so building the command tree does not load Jackson. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    static final String STATS_FILE = "stats.json";

    private final DcdEnvironment env;

    public StatsService(DcdEnvironment env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /** Every mounted VM's statistics, by VM name. */
    public List<Views.MountedStats> all() throws IOException {
        List<Views.MountedStats> found = new ArrayList<>();
        for (Map.Entry<String, Path> e : mountedVms().entrySet()) {
            found.add(read(e.getKey(), e.getValue()));
        }
        return found;
    }

    /** One VM's statistics; a VM the catalog does not know, or one not mounted, is one line. */
    public Views.MountedStats of(String vmName) throws IOException {
        env.catalog().requireVm(vmName);
        Path mountpoint = mountedVms().get(vmName);
        if (mountpoint == null) {
            throw new CatalogException("VM '" + vmName + "' is not mounted; statistics exist while 'dcd mount "
                    + vmName + " MOUNTPOINT' serves it");
        }
        return read(vmName, mountpoint);
    }

    /** VM name to mountpoint, for every mount whose serving process is alive. */
    public Map<String, Path> mountedVms() throws IOException {
        return MountService.liveMounts(env.home());
    }

    private static Views.MountedStats read(String vm, Path mountpoint) throws IOException {
        return new Views.MountedStats(vm, mountpoint, Json.MAPPER.readTree(Files.readString(mountpoint.resolve(STATS_FILE))));
    }
}
