package dev.dcd.vdisk;

import java.nio.file.Path;

/** A finished vdisk file, ready to hand to a backend. */
public record SealedVdisk(Path file, ContentId id, long length, Manifest manifest) {
}
