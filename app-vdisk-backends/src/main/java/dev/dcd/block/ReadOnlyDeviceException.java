package dev.dcd.block;

import java.io.IOException;

/** A write reached a device that never accepts writes; the FUSE adapter turns it into EROFS. */
public final class ReadOnlyDeviceException extends IOException {
    public ReadOnlyDeviceException(String device) {
        super(device + " is read-only");
    }
}
