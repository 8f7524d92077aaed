package dev.dcd.backend.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The client's side of the wire, byte for byte, against recorded server bytes (the sequences nbdkit 1.32 sends
 * for a 64 MiB memory export; fields annotated from doc/proto.md).
 */
class NbdConnectionTest {
    @TempDir
    Path dir;

    /** NBDMAGIC, IHAVEOPT, handshake flags FIXED_NEWSTYLE | NO_ZEROES. */
    static final String GREETING = "4e42444d41474943 49484156454f5054 0003";
    /** Client flags FIXED_NEWSTYLE | NO_ZEROES, then NBD_OPT_GO for export "lun0" asking for NBD_INFO_BLOCK_SIZE. */
    static final String CLIENT_GO = "00000003 | 49484156454f5054 00000007 0000000c | 00000004 6c756e30 0001 0003";
    /** REP_INFO: INFO_EXPORT, size 64 MiB, flags HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|CAN_MULTI_CONN. */
    static final String INFO_EXPORT = "0003e889045565a9 00000007 00000003 0000000c | 0000 0000000004000000 016d";
    /** REP_INFO: INFO_BLOCK_SIZE, minimum 1, preferred 4096, maximum 32 MiB. */
    static final String INFO_BLOCK = "0003e889045565a9 00000007 00000003 0000000e | 0003 00000001 00001000 02000000";
    static final String ACK = "0003e889045565a9 00000007 00000001 00000000";

    private NbdConnection handshaken(ScriptedPeer peer) throws Exception {
        NbdConnection c = peer.connect();
        NbdConnection.ExportInfo info = c.handshake("lun0");
        assertEquals(64L << 20, info.size());
        assertEquals(4096, info.preferredBlock());
        assertEquals(32 << 20, info.maxBlock());
        assertTrue(info.canFlush() && info.canTrim() && !info.readOnly());
        return c;
    }

    private static ScriptedPeer goScript(ScriptedPeer peer) {
        return peer.send(GREETING).expect(CLIENT_GO).send(INFO_EXPORT).send(INFO_BLOCK).send(ACK);
    }

    private static void assertSent(ScriptedPeer peer) throws Exception {
        String[] wantedAndGot = peer.finish();
        assertEquals(wantedAndGot[0], wantedAndGot[1], "the client's bytes");
    }

    @Test
    void theHandshakeIsFixedNewstyleWithOptGoAndLearnsSizeFlagsAndBlockSizes() throws Exception {
        try (ScriptedPeer peer = goScript(new ScriptedPeer(dir))) {
            handshaken(peer).close();
            assertSent(peer);
        }
    }

    @Test
    void aReadIsOneRequestAndASimpleReplyWithTheData() throws Exception {
        try (ScriptedPeer peer = goScript(new ScriptedPeer(dir))
                // NBD_CMD_READ, cookie 1, offset 0x10000, 8 bytes.
                .expect("25609513 0000 0000 0000000000000001 0000000000010000 00000008")
                .send("67446698 00000000 0000000000000001 | 0102030405060708")) {
            NbdConnection c = handshaken(peer);
            ByteBuffer dst = ByteBuffer.allocate(8);
            c.read(0x10000, dst);
            assertEquals("0102030405060708", java.util.HexFormat.of().formatHex(dst.array()));
            c.close();
            assertSent(peer);
        }
    }

    @Test
    void aWriteCarriesItsPayloadAndFlushTrimAndDisconnectAreWhatTheSpecSays() throws Exception {
        try (ScriptedPeer peer = goScript(new ScriptedPeer(dir))
                .expect("25609513 0000 0001 0000000000000001 0000000000000200 00000004 | cafef00d")
                .send("67446698 00000000 0000000000000001")
                .expect("25609513 0000 0003 0000000000000002 0000000000000000 00000000")
                .send("67446698 00000000 0000000000000002")
                .expect("25609513 0000 0004 0000000000000003 0000000000001000 00002000")
                .send("67446698 00000000 0000000000000003")
                .expect("25609513 0000 0002 0000000000000004 0000000000000000 00000000")) {
            NbdConnection c = handshaken(peer);
            c.write(0x200, ByteBuffer.wrap(ScriptedPeer.hex("cafef00d")), false);
            c.flush();
            c.trim(0x1000, 0x2000);
            c.disconnect();
            assertSent(peer);
        }
    }

    @Test
    void anErrorReplyIsAnAnsweredNbdExceptionAndEioIsWorthRetrying() throws Exception {
        try (ScriptedPeer peer = goScript(new ScriptedPeer(dir))
                .expect("25609513 0000 0000 0000000000000001 0000000000000000 00001000")
                .send("67446698 00000005 0000000000000001")
                .expect("25609513 0000 0001 0000000000000002 0000000000000000 00000001 | 00")
                .send("67446698 0000001c 0000000000000002")) {
            NbdConnection c = handshaken(peer);
            NbdException eio = assertThrows(NbdException.class, () -> c.read(0, ByteBuffer.allocate(4096)));
            assertTrue(eio.transientError() && eio.answered());
            assertEquals("peer: read of 4096 bytes at 0: server answered EIO (input/output error)", eio.getMessage());
            NbdException nospc = assertThrows(NbdException.class, () -> c.write(0, ByteBuffer.allocate(1), false));
            assertFalse(nospc.transientError());
            assertTrue(nospc.getMessage().endsWith("ENOSPC (no space left)"), nospc.getMessage());
            c.close();
            assertSent(peer);
        }
    }

    @Test
    void anUnknownExportIsRefusedWithTheServersReason() throws Exception {
        try (ScriptedPeer peer = new ScriptedPeer(dir).send(GREETING).expect(CLIENT_GO)
                // ERR_UNKNOWN with the text "no such export".
                .send("0003e889045565a9 00000007 80000006 0000000e | 6e6f2073756368206578706f7274")) {
            NbdConnection c = peer.connect();
            NbdException e = assertThrows(NbdException.class, () -> c.handshake("lun0"));
            assertEquals("peer refused the export: ERR_UNKNOWN (no such export): no such export", e.getMessage());
            assertFalse(e.transientError());
            c.close();
            assertSent(peer);
        }
    }

    @Test
    void aServerWithoutOptGoGetsExportName() throws Exception {
        try (ScriptedPeer peer = new ScriptedPeer(dir).send(GREETING).expect(CLIENT_GO)
                .send("0003e889045565a9 00000007 80000001 00000000")
                .expect("49484156454f5054 00000001 00000004 6c756e30")
                // Size 1 MiB, flags HAS_FLAGS|READ_ONLY; no 124 zero bytes (NO_ZEROES was agreed).
                .send("0000000000100000 0003")) {
            NbdConnection c = peer.connect();
            NbdConnection.ExportInfo info = c.handshake("lun0");
            assertEquals(1 << 20, info.size());
            assertTrue(info.readOnly());
            c.close();
            assertSent(peer);
        }
    }

    @Test
    void oldstyleServersAndUnnegotiatedStructuredRepliesAreRefused() throws Exception {
        try (ScriptedPeer peer = new ScriptedPeer(dir).send("4e42444d41474943 0000420281861253 0000")) {
            NbdConnection c = peer.connect();
            NbdException e = assertThrows(NbdException.class, () -> c.handshake(""));
            assertEquals("peer speaks the oldstyle NBD handshake; dcd needs fixed newstyle", e.getMessage());
            c.close();
        }
        try (ScriptedPeer peer = goScript(new ScriptedPeer(dir))
                .expect("25609513 0000 0000 0000000000000001 0000000000000000 00000010")
                .send("668e33ef 0001 0001 0000000000000001 00000000")) {
            NbdConnection c = handshaken(peer);
            NbdException e = assertThrows(NbdException.class, () -> c.read(0, ByteBuffer.allocate(16)));
            assertEquals("peer sent a structured reply that was never negotiated", e.getMessage());
            assertFalse(e.answered(), "the stream is out of step: the connection is not reused");
            c.close();
        }
    }
}
