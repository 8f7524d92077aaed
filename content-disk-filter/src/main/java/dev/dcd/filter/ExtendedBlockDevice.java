package dev.dcd.filter;

import dev.dcd.block.BlockDevice;

import java.io.IOException;
import java.util.List;

/**
 * A {@link BlockDevice} with the two nbdkit callbacks the shared interface lacks: {@code zero} and
 * {@code extents}. Kept in this module so the shared interface stays as it is; whether a device really
 * supports them is declared by {@link dev.dcd.block.Capabilities#zero()} and {@code extents()}.
 */
public interface ExtendedBlockDevice extends BlockDevice {

    /** Makes {@code [offset, offset + length)} read as zeros, as if zeros had been written. */
    default void zero(long offset, long length) throws IOException {
        throw new UnsupportedOperationException("zero is not supported by " + describe());
    }

    /**
     * Describes {@code [offset, offset + length)} as consecutive extents that together cover exactly that
     * range, in order. A device without allocation knowledge reports one data extent.
     */
    default List<Extent> extents(long offset, long length) throws IOException {
        BlockDevice.checkRange(this, offset, length);
        return length == 0 ? List.of() : List.of(new Extent(offset, length, Extent.Type.DATA));
    }

    /** Lets any shared-interface device sit at the bottom of a chain. */
    static ExtendedBlockDevice of(BlockDevice device) {
        if (device instanceof ExtendedBlockDevice extended) {
            return extended;
        }
        return new AdaptedDevice(device);
    }

}
