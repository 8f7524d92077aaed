package dev.dcd.service;

import dev.dcd.control.ControlClient;
import dev.dcd.control.ControlSockets;
import dev.dcd.mount.MountService;
import dev.dcd.nbd.ServeService;
import dev.dcd.synth.RegionMap;
import dev.dcd.synth.SynthesizedDisk;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.net.ConnectException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Which running servers read a vdisk copy, asked over their control channels ({@code reads CONTENT-ID},
 * docs/control-channel.md): the server itself says which backend it reads the vdisk from now, which no pid file
 * or catalog row can tell after a move switched the catalog but not the server. Whatever cannot be known counts
 * as reading: a server that does not answer within the timeout or answers {@code error}, and a live mount whose
 * generation maps the vdisk but that has no control channel, a server that registered as a reader and has no
 * control socket listening yet (it is starting), and a live {@code dcd serve} record with neither.
 *
 * <p>A socket nobody listens on belongs to a server that ended: it reads nothing. A server that stayed silent is
 * not asked again in the same run (one timeout per server, not one per copy).
 */
public final class LiveServers implements GcService.LiveReaders {
    private final DcdEnvironment env;
    private final Duration timeout;
    private final Map<Path, String> silent = new HashMap<>();

    public LiveServers(DcdEnvironment env, Duration timeout) {
        this.env = Objects.requireNonNull(env);
        this.timeout = Objects.requireNonNull(timeout);
    }

    @Override
    public List<String> readersOf(ContentId id, String backend) throws IOException {
        List<String> why = new ArrayList<>();
        Set<String> answeredMounts = new HashSet<>();
        Set<String> asked = new HashSet<>();
        for (ControlSockets.Endpoint server : ControlSockets.list(env.home())) {
            String known = silent.get(server.path());
            if (known != null) {
                asked.add(key(server.kind(), server.vm()));
                why.add(known);
                continue;
            }
            ControlClient.Answer answer;
            try {
                answer = ControlClient.request(server.path(), "reads " + id.hex(), timeout);
            } catch (ConnectException | NoSuchFileException e) {
                continue;
            } catch (IOException e) {
                if (!Files.exists(server.path()) || e.getCause() instanceof ConnectException
                        || e.getCause() instanceof NoSuchFileException) {
                    continue;
                }
                String line = "the " + server.describe() + " did not answer (" + e.getMessage()
                        + "), so it may still read it";
                asked.add(key(server.kind(), server.vm()));
                silent.put(server.path(), line);
                why.add(line);
                continue;
            }
            asked.add(key(server.kind(), server.vm()));
            if (server.kind().equals(ControlSockets.MOUNT)) {
                answeredMounts.add(server.vm());
            }
            if (!answer.ok()) {
                why.add("the " + server.describe() + " cannot say which copy it reads (" + answer.detail()
                        + "), so it may still read it");
            } else if (answer.detail().equals("from " + backend)) {
                why.add("the " + server.describe() + " reads it from " + backend);
            }
        }
        Set<String> registered = registeredMounts(env);
        for (MountService.LiveMount mount : MountService.liveMountGenerations(env.home())) {
            if (!answeredMounts.contains(mount.vm()) && !registered.contains(mount.vm())
                    && generationReads(env, mount, id)) {
                why.add("the mount of VM " + mount.vm() + " at " + mount.mountpoint() + " reads the vdisk but has no"
                        + " control channel to say from where (mounted by an older dcd? remount it)");
            }
        }
        why.addAll(unasked(env, asked, id));
        return why;
    }

    /**
     * VMs with a live mount server registered as a reader: {@link #unasked} speaks for those (a supervised mount's
     * server that is starting, or restarting after a crash, has a record but no socket yet; it is not an old dcd).
     */
    static Set<String> registeredMounts(DcdEnvironment env) throws IOException {
        Set<String> vms = new HashSet<>();
        for (ControlSockets.Reader reader : ControlSockets.liveReaders(env.home())) {
            if (reader.kind().equals(ControlSockets.MOUNT)) {
                vms.add(reader.vm());
            }
        }
        return vms;
    }

    /** The key of a server in {@code asked}: its kind and VM (one server of each kind per VM listens). */
    static String key(String kind, String vm) {
        return kind + "\0" + vm;
    }

    /**
     * Why servers that were not asked (no socket of theirs answered or stayed silent) may still read {@code id}: a
     * server that registered as a reader but has no control socket listening (still starting, or its socket could
     * not be made), and a live {@code dcd serve} record with neither (a server of an older dcd). Each counts only if
     * a generation of its VM on disk maps the vdisk, or if that cannot be known.
     */
    static List<String> unasked(DcdEnvironment env, Set<String> asked, ContentId id) throws IOException {
        List<String> why = new ArrayList<>();
        Set<Long> registered = new HashSet<>();
        for (ControlSockets.Reader reader : ControlSockets.liveReaders(env.home())) {
            registered.add(reader.pid());
            if (!asked.contains(key(reader.kind(), reader.vm())) && vmMayRead(env, reader.vm(), id)) {
                why.add("the " + reader.describe() + " (pid " + reader.pid() + ") is starting or has no control channel"
                        + " to say from where, so it may still read it");
            }
        }
        for (ServeService.Record server : ServeService.liveServers(env.home())) {
            if (!registered.contains(server.pid()) && !asked.contains(key(ControlSockets.SERVE, server.vm()))
                    && vmMayRead(env, server.vm(), id)) {
                why.add("the NBD server of VM " + server.vm() + " (pid " + server.pid() + ") has no control channel to"
                        + " say from where (started by an older dcd? restart it), so it may still read it");
            }
        }
        return why;
    }

    /** True when some generation of {@code vm} on disk maps {@code id}, or when that cannot be known. */
    static boolean vmMayRead(DcdEnvironment env, String vm, ContentId id) {
        Path dir = env.vmDir(vm);
        try (DirectoryStream<Path> generations = Files.newDirectoryStream(dir, "gen-*")) {
            for (Path g : generations) {
                Path regions = g.resolve(SynthesizedDisk.REGIONS);
                if (!Files.exists(regions)) {
                    continue; // a generation being built, or discarded half-way: it serves nothing yet
                }
                try {
                    if (RegionMap.load(regions).vdisks().contains(id)) {
                        return true;
                    }
                } catch (IOException | RuntimeException e) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            // Also when the VM's directory is gone: its server serves what it opened, which nothing on disk tells.
            return true;
        }
    }

    /** True when the live mount's generation maps {@code id}; true as well when that cannot be known. */
    static boolean generationReads(DcdEnvironment env, MountService.LiveMount mount, ContentId id) {
        if (mount.generation() <= 0) {
            return true;
        }
        Path regions = env.generationDir(mount.vm(), mount.generation()).resolve(SynthesizedDisk.REGIONS);
        try {
            return RegionMap.load(regions).vdisks().contains(id);
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }
}
