package dev.dcd.tests.guest;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One boot of a real Linux guest under qemu (TCG: no KVM here): Debian's kernel booted directly, a busybox
 * initramfs whose init loads the virtio and filesystem modules, waits for {@code /dev/vda1} (with a deadline
 * on the guest's own uptime), runs the test's script, syncs and powers off. qemu exits 0 even after a guest
 * panic, so the verdict comes from markers the script prints on the serial console, never from qemu's status.
 */
public final class Guest {
    /** Wall-clock bound of one boot, as the issue asks; -Ddcd.guest.timeout=S raises it on a slow machine. */
    public static final int TIMEOUT_SECONDS = Integer.getInteger("dcd.guest.timeout", 60);
    static final String END = "DCD-END";
    static final List<String> VIRTIO = List.of("drivers/virtio/virtio_ring", "drivers/virtio/virtio",
            "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio_pci_modern_dev", "drivers/virtio/virtio_pci",
            "drivers/block/virtio_blk");
    /** crc32c_generic is a soft dependency of ext4, absent from modules.dep: without it "Cannot load crc32c driver". */
    public static final List<String> EXT4 = List.of("crypto/crc32c_generic", "lib/crc16", "fs/mbcache", "fs/jbd2/jbd2",
            "fs/ext4/ext4");
    /** nls_ascii: vfat's default iocharset; nls_utf8 for iocharset=utf8 (non-Latin names). */
    public static final List<String> VFAT = List.of("fs/fat/fat", "fs/fat/vfat", "fs/nls/nls_cp437", "fs/nls/nls_ascii",
            "fs/nls/nls_utf8");

    /** What the guest printed. */
    public record Boot(String serial, double seconds) {
        /** The script ran to its end: init printed the end marker after the script returned. */
        public boolean finished() {
            return serial.lines().anyMatch(l -> l.strip().equals(END));
        }

        /** Lines "PREFIX rest" as rest, in order. */
        public List<String> values(String prefix) {
            List<String> out = new ArrayList<>();
            for (String line : serial.split("\r?\n")) {
                String l = line.strip();
                if (l.startsWith(prefix + " ")) {
                    out.add(l.substring(prefix.length() + 1));
                }
            }
            return out;
        }

        /** "DCD-SHA <hash>  <path>" lines (sha256sum's output, prefixed) as path to hash. */
        public Map<String, String> hashes() {
            Map<String, String> out = new LinkedHashMap<>();
            for (String v : values("DCD-SHA")) {
                String[] f = v.split("\\s+", 2);
                out.put(f[1], f[0]);
            }
            return out;
        }

        public boolean has(String marker) {
            return serial.lines().anyMatch(l -> l.strip().equals(marker));
        }
    }

    private Guest() {
    }

    /**
     * Boots with {@code drive} (a qemu -drive file= value: an image path or an nbd URI) as virtio disk vda and
     * runs {@code script} (busybox sh; {@code $B} is busybox) once vda1 exists.
     */
    public static Boot boot(GuestKernel kernel, Path work, String drive, boolean readOnly, List<String> fsModules,
                            String script) throws IOException, InterruptedException {
        Files.createDirectories(work);
        Path initrd = work.resolve("initrd.gz");
        initramfs(kernel, fsModules, script).write(initrd);
        Path serial = work.resolve("serial.txt");
        List<String> command = List.of("qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256",
                "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
                "-kernel", kernel.vmlinux.toString(), "-initrd", initrd.toString(),
                "-append", "console=ttyS0 panic=-1 quiet loglevel=3",
                "-drive", "file=" + drive + ",format=raw,if=virtio,cache=writeback" + (readOnly ? ",readonly=on" : ""));
        long start = System.nanoTime();
        Process qemu = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(serial.toFile()).redirectErrorStream(true).start();
        try {
            if (!qemu.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new AssertionError("the guest did not power off within " + TIMEOUT_SECONDS + " s; serial console:\n"
                        + Files.readString(serial, StandardCharsets.UTF_8));
            }
        } finally {
            qemu.destroyForcibly();
            qemu.waitFor(10, TimeUnit.SECONDS);
        }
        Boot boot = new Boot(Files.readString(serial, StandardCharsets.UTF_8), (System.nanoTime() - start) / 1e9);
        System.err.printf("guest boot over %s: %.1f s wall, load %s%n", drive, boot.seconds(),
                Files.readString(Path.of("/proc/loadavg")).strip());
        if (!boot.finished()) {
            throw new AssertionError("the guest did not finish its script (qemu exit " + qemu.exitValue()
                    + "); serial console:\n" + boot.serial());
        }
        return boot;
    }

    static Initramfs initramfs(GuestKernel kernel, List<String> fsModules, String script) throws IOException {
        List<String> modules = new ArrayList<>(VIRTIO);
        modules.addAll(fsModules);
        Initramfs fs = new Initramfs().dir("bin").dir("dev").dir("proc").dir("sys").dir("mnt").dir("lib")
                .dir("lib/modules").charDevice("dev/console", 5, 1)
                .file("bin/busybox", 0755, Path.of("/bin/busybox"));
        StringBuilder names = new StringBuilder();
        for (String m : modules) {
            String name = m.substring(m.lastIndexOf('/') + 1);
            fs.file("lib/modules/" + name + ".ko", 0644, kernel.modules.resolve(m + ".ko"));
            names.append(' ').append(name);
        }
        String init = """
                #!/bin/busybox sh
                B=/bin/busybox
                $B mount -t proc proc /proc
                $B mount -t sysfs sys /sys
                $B mount -t devtmpfs dev /dev
                for m in%s; do $B insmod /lib/modules/$m.ko || echo "DCD-FAIL insmod $m"; done
                up() { $B cut -d. -f1 /proc/uptime; }
                # Wait for the disk on the guest's own clock: a loaded host slows the guest, not this bound.
                while [ ! -b /dev/vda1 ]; do
                  if [ "$(up)" -ge 30 ]; then echo "DCD-FAIL no /dev/vda1"; $B poweroff -f; fi
                  $B usleep 20000
                done
                echo DCD-BOOTED
                export B
                $B sh /test.sh
                echo "DCD-EXIT $?"
                $B sync
                echo %s
                $B poweroff -f
                """.formatted(names, END);
        fs.file("init", 0755, init.getBytes(StandardCharsets.UTF_8));
        fs.file("test.sh", 0755, script.getBytes(StandardCharsets.UTF_8));
        return fs;
    }
}
