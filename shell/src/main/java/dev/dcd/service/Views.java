package dev.dcd.service;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.dcd.catalog.AppVersion;
import dev.dcd.catalog.Vm;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the services answer with: plain records, rendered by the CLI as a table or as {@code --json}, and read
 * by tests directly. They hold facts, never text for a terminal.
 */
public final class Views {
    private Views() {
    }

    /** One row of {@code disk generations}: a generation and whether its overlay holds guest writes. */
    public record GenerationRow(Vm.Generation generation, boolean current, boolean guestWrites) {
    }

    /** A VM with its apps as the catalog has them now; {@code app} is empty for one no longer in the catalog. */
    public record VmDetail(Vm vm, List<AssignedApp> apps) {
        public VmDetail {
            apps = List.copyOf(apps);
        }
    }

    public record AssignedApp(Vm.Assignment assignment, Optional<AppVersion> app) {
    }

    /** Bytes and count of one kind of region in a disk's region map. */
    @JsonPropertyOrder({"count", "bytes"})
    public record RegionStat(int count, long bytes) {
    }

    /** Sizes and region counts of one generation ({@code disk stat}); the JSON keys keep this order. */
    @JsonPropertyOrder({"vm", "generation", "virtualSize", "allocatedBytes", "appBytesMapped", "fileCount", "vdisks",
            "regions"})
    public record DiskStat(String vm, int generation, long virtualSize, long allocatedBytes, long appBytesMapped,
                           long fileCount, int vdisks, Map<String, RegionStat> regions) {
        public DiskStat {
            regions = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(regions));
        }
    }

    /** What {@code disk discard} did: the guest writes that went with the generation. */
    public record Discarded(String vm, int generation, long guestWriteBytes, boolean appsRetired) {
    }

    /** A mounted VM's live statistics, as its serving process publishes them in {@code stats.json}. */
    public record MountedStats(String vm, Path mountpoint, com.fasterxml.jackson.databind.JsonNode stats) {
    }

    /** A backend just registered, with its capacity when it is a store of fixed size. */
    public record BackendAdded(dev.dcd.catalog.BackendEntry entry, Optional<dev.dcd.backend.Backend.Usage> usage) {
    }

    /** A row of {@code backend list}: usage for stores of fixed size, or why the backend could not be reached. */
    public record BackendRow(dev.dcd.catalog.BackendEntry entry, long apps, Optional<dev.dcd.backend.Backend.Usage> usage,
                             Optional<String> unreachable) {
    }

    /** The result of {@code backend check}; {@code objects} is -1 when the check failed. */
    public record BackendCheck(String name, java.net.URI uri, dev.dcd.backend.Backend.HealthReport report, int objects) {
    }
}
