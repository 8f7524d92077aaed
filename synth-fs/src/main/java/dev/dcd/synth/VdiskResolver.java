package dev.dcd.synth;

import dev.dcd.block.BlockDevice;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;

/** Opens the vdisk a region map refers to, wherever its backend is. */
@FunctionalInterface
public interface VdiskResolver {
    BlockDevice open(ContentId id) throws IOException;
}
