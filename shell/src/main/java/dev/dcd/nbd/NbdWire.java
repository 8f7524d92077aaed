package dev.dcd.nbd;

/**
 * The numbers of the NBD protocol that the server side speaks, named as in the protocol document
 * (github.com/NetworkBlockDevice/nbd, doc/proto.md). Every value on the wire is big-endian.
 * docs/nbd-export.md lists the subset this server implements and the byte layout of each message.
 */
final class NbdWire {
    private NbdWire() {
    }

    // The protocol's own numbers are in dev.dcd.backend.nbd.NbdProtocol, shared with the LUN backend's client.

    /** The meta context id this server gives base:allocation. */
    static final int BASE_ALLOCATION_ID = 1;

    // ---- limits of this server
    /** Largest READ or WRITE payload: 32 MiB, as nbdkit and qemu use. */
    static final int MAX_PAYLOAD = 32 << 20;
    /** Largest option payload accepted; names are at most 4096 bytes, so this is generous. */
    static final int MAX_OPTION = 64 << 10;
    static final int MAX_NAME = 4096;
    /** Block sizes announced with NBD_INFO_BLOCK_SIZE: any byte, 4 KiB preferred (the overlay's block). */
    static final int MIN_BLOCK = 1;
    static final int PREFERRED_BLOCK = 4096;
}
