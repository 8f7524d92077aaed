package dev.dcd.filter;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.Capabilities;
import dev.dcd.block.ForwardingBlockDevice;

/**
 * A shared-interface device seen as an extended one ({@link ExtendedBlockDevice#of}): everything forwards; it
 * declares neither zero nor extents, and reports its whole range as data (the interface's defaults).
 */
final class AdaptedDevice extends ForwardingBlockDevice<BlockDevice> implements ExtendedBlockDevice {
    AdaptedDevice(BlockDevice device) {
        super(device);
    }

    @Override
    public Capabilities capabilities() {
        return next.capabilities().withZero(false).withExtents(false);
    }
}
