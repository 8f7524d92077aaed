package dev.dcd.block;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class ForwardingBlockDeviceTest {

    /** Records every call it gets, so a test can see what reached the device beneath. */
    static final class Recorder implements BlockDevice {
        final List<String> calls = new ArrayList<>();

        @Override
        public long size() {
            calls.add("size");
            return 4096;
        }

        @Override
        public Capabilities capabilities() {
            calls.add("capabilities");
            return Capabilities.READ_WRITE;
        }

        @Override
        public void read(long offset, ByteBuffer dst) {
            calls.add("read " + offset + " " + dst.remaining());
            dst.position(dst.limit());
        }

        @Override
        public void write(long offset, ByteBuffer src) {
            calls.add("write " + offset + " " + src.remaining());
        }

        @Override
        public void flush() {
            calls.add("flush");
        }

        @Override
        public void trim(long offset, long length) {
            calls.add("trim " + offset + " " + length);
        }

        @Override
        public String describe() {
            calls.add("describe");
            return "recorder";
        }

        @Override
        public void close() {
            calls.add("close");
        }
    }

    @Test
    void aWrapperThatOverridesNothingPassesEveryCallThroughUnchanged() throws IOException {
        Recorder beneath = new Recorder();
        BlockDevice wrapper = new ForwardingBlockDevice<>(beneath) {
        };

        assertEquals(4096, wrapper.size());
        assertSame(Capabilities.READ_WRITE, wrapper.capabilities());
        wrapper.read(512, ByteBuffer.allocate(100));
        wrapper.write(1024, ByteBuffer.allocate(7));
        wrapper.flush();
        wrapper.trim(2048, 512);
        assertEquals("recorder", wrapper.describe());
        wrapper.close();

        assertEquals(List.of("size", "capabilities", "read 512 100", "write 1024 7", "flush", "trim 2048 512",
                "describe", "close"), beneath.calls);
    }

    @Test
    void aWrapperChangesOnlyTheCallItOverrides() throws IOException {
        Recorder beneath = new Recorder();
        List<String> seen = new ArrayList<>();
        BlockDevice counting = new ForwardingBlockDevice<>(beneath) {
            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                seen.add("read " + offset);
                next.read(offset, dst);
            }
        };

        counting.read(0, ByteBuffer.allocate(1));
        counting.flush();

        assertEquals(List.of("read 0"), seen);
        assertEquals(List.of("read 0 1", "flush"), beneath.calls);
    }
}
