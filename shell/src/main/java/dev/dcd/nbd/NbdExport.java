package dev.dcd.nbd;

import dev.dcd.filter.ExtendedBlockDevice;

import java.util.Objects;

/**
 * The one disk a server offers: its name (the VM's), a description for NBD_INFO_DESCRIPTION, the device,
 * and whether clients may write. The server never closes the device; its owner does, after the server.
 */
public record NbdExport(String name, String description, ExtendedBlockDevice device, boolean readOnly) {
    public NbdExport {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(device, "device");
    }

    /** True for the export's own name, and for the empty name, which NBD clients send for "the default". */
    boolean answersTo(String requested) {
        return requested.isEmpty() || requested.equals(name);
    }

    boolean writable() {
        return !readOnly && device.capabilities().writable();
    }
}
