package dev.dcd.tests.guest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;

/**
 * A reproducible initramfs: a cpio "newc" archive (the format the kernel unpacks) with fixed owners (0:0),
 * mtimes (0) and inode numbers, gzip-compressed with no name and a zero mtime in the header (as gzip -n).
 * The same entries always give the same bytes, without depending on cpio(1)'s flags.
 */
public final class Initramfs {
    /** "070701" then 13 fields of 8 hex digits: the newc header, 110 bytes. */
    private static final String NEWC_MAGIC = "070701";
    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFCHR = 0020000;

    private record Entry(String name, int mode, byte[] data, int rdevMajor, int rdevMinor) {
    }

    private final List<Entry> entries = new ArrayList<>();

    public Initramfs dir(String name) {
        entries.add(new Entry(name, S_IFDIR | 0755, new byte[0], 0, 0));
        return this;
    }

    public Initramfs file(String name, int permissions, byte[] data) {
        entries.add(new Entry(name, S_IFREG | permissions, data, 0, 0));
        return this;
    }

    public Initramfs file(String name, int permissions, Path source) throws IOException {
        return file(name, permissions, Files.readAllBytes(source));
    }

    public Initramfs charDevice(String name, int major, int minor) {
        entries.add(new Entry(name, S_IFCHR | 0600, new byte[0], major, minor));
        return this;
    }

    public void write(Path target) throws IOException {
        ByteArrayOutputStream cpio = new ByteArrayOutputStream();
        int ino = 1;
        for (Entry e : entries) {
            header(cpio, ino++, e.mode, e.data.length, e.rdevMajor, e.rdevMinor, e.name);
            cpio.write(e.data);
            pad(cpio, e.data.length);
        }
        header(cpio, 0, 0, 0, 0, 0, "TRAILER!!!");
        // GZIPOutputStream writes mtime 0 and no file name: the same bytes every time.
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(target), 1 << 16)) {
            cpio.writeTo(out);
        }
    }

    private static void header(ByteArrayOutputStream out, int ino, int mode, int size, int rdevMajor, int rdevMinor,
                               String name) throws IOException {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.UTF_8);
        int nlink = (mode & S_IFDIR) == S_IFDIR ? 2 : 1;
        String h = NEWC_MAGIC + hex(ino) + hex(mode) + hex(0) + hex(0) + hex(nlink) + hex(0) + hex(size)
                + hex(0) + hex(0) + hex(rdevMajor) + hex(rdevMinor) + hex(nameBytes.length) + hex(0);
        out.write(h.getBytes(StandardCharsets.US_ASCII));
        out.write(nameBytes);
        pad(out, 110 + nameBytes.length);
    }

    private static String hex(int v) {
        return String.format("%08x", v);
    }

    /** newc aligns every header and every file's data to 4 bytes. */
    private static void pad(ByteArrayOutputStream out, int length) {
        for (int i = length; i % 4 != 0; i++) {
            out.write(0);
        }
    }
}
