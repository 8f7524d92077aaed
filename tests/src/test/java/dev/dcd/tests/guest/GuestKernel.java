package dev.dcd.tests.guest;

import dev.dcd.tests.vmmount.VmCli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Debian's current amd64 kernel for test guests: fetched with {@code apt-get download} (never installed),
 * unpacked with {@code dpkg-deb -x} into {@code ~/.cache/dcd-test/<package>/}, and its bzImage unwrapped to
 * the ELF {@code vmlinux}, which qemu boots directly through the PVH entry point in about half the time.
 * A finished cache directory appears atomically (rename), so an interrupted fetch is simply redone.
 */
public final class GuestKernel {
    static final Path CACHE = Path.of(System.getProperty("user.home"), ".cache", "dcd-test");
    /** The xz stream magic: Debian compresses the kernel inside its bzImage with xz. */
    private static final byte[] XZ_MAGIC = {(byte) 0xfd, '7', 'z', 'X', 'Z', 0};

    public final Path vmlinux;
    public final Path modules;
    public final String packageName;

    private GuestKernel(Path dir, String packageName) throws IOException {
        this.vmlinux = dir.resolve("vmlinux");
        this.packageName = packageName;
        try (Stream<Path> versions = Files.list(dir.resolve("root/lib/modules"))) {
            this.modules = versions.findFirst().orElseThrow(() -> new IOException("no modules in " + dir)).resolve("kernel");
        }
    }

    /** The kernel of {@code linux-image-amd64}'s current dependency, fetched once per machine. */
    public static synchronized GuestKernel get() throws IOException, InterruptedException {
        String name = currentPackage();
        Path dir = CACHE.resolve(name);
        if (!Files.isRegularFile(dir.resolve("vmlinux"))) {
            fetch(name, dir);
        }
        return new GuestKernel(dir, name);
    }

    /** "linux-image-6.1.0-57-amd64" from {@code apt-cache depends linux-image-amd64}. */
    static String currentPackage() {
        String deps = VmCli.run("apt-cache", "depends", "linux-image-amd64").out();
        Matcher m = Pattern.compile("Depends: (linux-image-[0-9][^\\s]*-amd64)").matcher(deps);
        if (!m.find()) {
            throw new AssertionError("apt-cache depends linux-image-amd64 names no kernel (run apt-get update): " + deps);
        }
        return m.group(1);
    }

    private static void fetch(String name, Path dir) throws IOException, InterruptedException {
        Files.createDirectories(CACHE);
        Path work = Files.createTempDirectory(CACHE, name + ".partial-");
        try {
            VmCli.Result download = VmCli.run("sh", "-c", "cd '" + work + "' && apt-get download " + name);
            try (Stream<Path> debs = Files.list(work)) {
                Path deb = debs.filter(p -> p.toString().endsWith(".deb")).findFirst()
                        .orElseThrow(() -> new AssertionError("apt-get download " + name + " failed: " + download));
                VmCli.ok("dpkg-deb", "-x", deb.toString(), work.resolve("root").toString());
                Files.delete(deb);
            }
            Path vmlinuz;
            try (Stream<Path> boot = Files.list(work.resolve("root/boot"))) {
                vmlinuz = boot.filter(p -> p.getFileName().toString().startsWith("vmlinuz-")).findFirst()
                        .orElseThrow(() -> new AssertionError("no vmlinuz in " + name));
            }
            unwrap(vmlinuz, work.resolve("vmlinux"));
            try {
                Files.move(work, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
                // Another test JVM finished first; its copy is as good.
            }
        } finally {
            if (Files.exists(work)) {
                VmCli.quietly("rm", "-rf", work.toString());
            }
        }
    }

    /** The ELF kernel inside a bzImage: the xz stream after the setup code, decompressed by xz(1). */
    static void unwrap(Path bzImage, Path vmlinux) throws IOException, InterruptedException {
        byte[] image = Files.readAllBytes(bzImage);
        int at = indexOf(image, XZ_MAGIC);
        if (at < 0) {
            throw new AssertionError(bzImage + " holds no xz stream; the kernel's packaging changed");
        }
        Process xz = new ProcessBuilder("xz", "-dc", "--single-stream").redirectOutput(vmlinux.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (OutputStream in = xz.getOutputStream()) {
            in.write(image, at, image.length - at);
        } catch (IOException e) {
            // xz stops reading at the end of the stream; the trailing bytes are not needed.
        }
        if (!xz.waitFor(120, TimeUnit.SECONDS) || xz.exitValue() != 0) {
            xz.destroyForcibly();
            throw new AssertionError("xz could not unpack the kernel in " + bzImage);
        }
        try (InputStream elf = Files.newInputStream(vmlinux)) {
            byte[] head = elf.readNBytes(4);
            if (head.length < 4 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') {
                throw new AssertionError("the kernel unpacked from " + bzImage + " is not an ELF file");
            }
        }
    }

    private static int indexOf(byte[] data, byte[] pattern) {
        outer:
        for (int i = 0; i + pattern.length <= data.length; i++) {
            for (int j = 0; j < pattern.length; j++) {
                if (data[i + j] != pattern[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
