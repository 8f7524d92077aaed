package dev.dcd.synth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/** What the loaders of a generation's files share: checksums, whole-file reads and the one-line damage report. */
final class Checks {
    private Checks() {
    }

    static int crc32c(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    static byte[] readAll(Path file, String what) throws IOException {
        try {
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 64) {
                throw damaged(file, what, "it holds " + size + " bytes, more than any " + what + " can");
            }
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException(what + " " + file + " is missing; " + rebuildHint(file));
        }
    }

    /**
     * The one line a damaged file gives, naming the file and what is wrong, and what to do: a generation's files
     * are derived from the catalog, so a new build makes good ones (guest writes stay in the old generation).
     */
    static IOException damaged(Path file, String what, String why) {
        return new IOException(what + " " + file + " is damaged: " + why + "; " + rebuildHint(file));
    }

    private static String rebuildHint(Path file) {
        Path gen = file.toAbsolutePath().getParent();
        Path vm = gen == null ? null : gen.getParent();
        String name = gen != null && vm != null && vm.getFileName() != null
                && gen.getFileName().toString().startsWith("gen-") ? vm.getFileName().toString() : "VM";
        return "'dcd disk build " + name + "' builds a new generation";
    }
}
