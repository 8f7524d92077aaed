package dev.dcd.mount;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a VM's disk is mounted. The defaults are the measured choices documented in docs/fuse.md;
 * the switches exist so the benchmark can compare them.
 */
public final class MountOptions {
    /** The kernel never sends more than this per read or write with libfuse2 (32 pages). */
    public static final int MAX_IO = 128 * 1024;
    /**
     * Loop threads for a mount whose reads are all local files. Several readers (or a loop device over
     * disk.img) overlap their device reads; for one cold reader 1, 2, 4 and 8 measured within the noise of
     * this 2-core machine (docs/fuse.md).
     */
    public static final int LOCAL_THREADS = 4;
    /** Loop threads when reads wait on a remote backend: enough to overlap the kernel's background reads (12). */
    public static final int REMOTE_THREADS = 16;
    /** More would only be idle threads, each with a request buffer: the kernel sends at most 12 background reads. */
    static final int MAX_THREADS = 64;

    private final String vm;
    private final boolean allowOther;
    private final int threads;
    private final boolean keepCacheForFiles;
    private final int cacheTimeoutSeconds;
    private final boolean debug;

    private MountOptions(Builder b) {
        this.vm = Objects.requireNonNull(b.vm, "vm");
        this.allowOther = b.allowOther;
        this.threads = b.threads;
        this.keepCacheForFiles = b.keepCacheForFiles;
        this.cacheTimeoutSeconds = b.cacheTimeoutSeconds;
        this.debug = b.debug;
    }

    public static Builder builder(String vm) {
        return new Builder(vm);
    }

    public String vm() {
        return vm;
    }

    public boolean allowOther() {
        return allowOther;
    }

    /** How many Java threads run the FUSE request loop ({@link FuseLoop}); 1 serializes every request. */
    public int threads() {
        return threads;
    }

    public boolean keepCacheForFiles() {
        return keepCacheForFiles;
    }

    public int cacheTimeoutSeconds() {
        return cacheTimeoutSeconds;
    }

    public boolean debug() {
        return debug;
    }

    /**
     * The libfuse2 options after the mountpoint ({@link Mounter} adds the program name, -f and the mountpoint).
     * Never -s: the loop's concurrency is {@link #threads()}, not libfuse's.
     *
     * @param mountingUid the uid that mounts; root needs no allow_root to reach its own mount
     * @param userAllowOther whether /etc/fuse.conf lets non-root users pass allow_other/allow_root
     */
    List<String> fuseArgs(long mountingUid, boolean userAllowOther) {
        List<String> opts = new ArrayList<>();
        opts.add("fsname=dcd:" + vm.replace(",", "_"));
        opts.add("subtype=dcd");
        // Every name and attribute is fixed for the life of a mount (files/ is one generation, the top level
        // never changes), so lookups and attributes may be cached as long as the kernel likes.
        opts.add("entry_timeout=" + cacheTimeoutSeconds);
        opts.add("attr_timeout=" + cacheTimeoutSeconds);
        opts.add("negative_timeout=" + cacheTimeoutSeconds);
        // Inode numbers come from the file index so that hardlinks share one.
        opts.add("use_ino");
        opts.add("readdir_ino");
        opts.add("max_read=" + MAX_IO);
        // Without big_writes libfuse2 splits every write into 4 KiB requests.
        opts.add("big_writes");
        opts.add("max_write=" + MAX_IO);
        // The kernel checks modes and owners as for a real filesystem; essential once others may enter.
        opts.add("default_permissions");
        if (allowOther) {
            opts.add("allow_other");
        } else if (mountingUid != 0 && userAllowOther) {
            // libfuse2 otherwise locks out even root from a user's mount.
            opts.add("allow_root");
        }
        List<String> args = new ArrayList<>();
        args.add("-o");
        args.add(String.join(",", opts));
        return args;
    }

    public static final class Builder {
        private final String vm;
        private boolean allowOther;
        private int threads = LOCAL_THREADS;
        private boolean keepCacheForFiles = true;
        private int cacheTimeoutSeconds = 3600;
        private boolean debug;

        private Builder(String vm) {
            this.vm = vm;
        }

        public Builder allowOther(boolean value) {
            this.allowOther = value;
            return this;
        }

        public Builder threads(int value) {
            if (value < 1 || value > MAX_THREADS) {
                throw new IllegalArgumentException("FUSE loop threads must be 1 to " + MAX_THREADS + ": " + value);
            }
            this.threads = value;
            return this;
        }

        public Builder keepCacheForFiles(boolean value) {
            this.keepCacheForFiles = value;
            return this;
        }

        public Builder cacheTimeoutSeconds(int value) {
            if (value < 0) {
                throw new IllegalArgumentException("cache timeout must not be negative: " + value);
            }
            this.cacheTimeoutSeconds = value;
            return this;
        }

        public Builder debug(boolean value) {
            this.debug = value;
            return this;
        }

        public MountOptions build() {
            return new MountOptions(this);
        }
    }
}
