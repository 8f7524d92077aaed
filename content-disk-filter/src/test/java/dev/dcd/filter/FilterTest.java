package dev.dcd.filter;

import dev.dcd.block.Capabilities;
import dev.dcd.block.MemoryBlockDevice;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The base filter forwards every callback and every capability unless a subclass overrides it. */
class FilterTest {
    /** A bottom device that records every call it receives. */
    static class Recorder implements ExtendedBlockDevice {
        final List<String> calls = new ArrayList<>();
        Capabilities caps = new Capabilities(true, true, true, true, true);

        @Override
        public long size() {
            return 1 << 20;
        }

        @Override
        public Capabilities capabilities() {
            return caps;
        }

        @Override
        public void read(long offset, ByteBuffer dst) {
            calls.add("read " + offset + " " + dst.remaining());
            dst.position(dst.limit());
        }

        @Override
        public void write(long offset, ByteBuffer src) {
            calls.add("write " + offset + " " + src.remaining());
            src.position(src.limit());
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
        public void zero(long offset, long length) {
            calls.add("zero " + offset + " " + length);
        }

        @Override
        public List<Extent> extents(long offset, long length) {
            calls.add("extents " + offset + " " + length);
            return List.of(new Extent(offset, length, Extent.Type.ZERO));
        }

        @Override
        public void close() {
            calls.add("close");
        }
    }

    @Test
    void anEmptyFilterForwardsEveryCallbackUnchanged() throws IOException {
        Recorder bottom = new Recorder();
        Filter filter = new Filter(bottom) {
        };
        filter.read(10, ByteBuffer.allocate(5));
        filter.write(20, ByteBuffer.allocate(6));
        filter.flush();
        filter.trim(30, 7);
        filter.zero(40, 8);
        assertEquals(List.of(new Extent(50, 9, Extent.Type.ZERO)), filter.extents(50, 9));
        filter.close();
        assertEquals(List.of("read 10 5", "write 20 6", "flush", "trim 30 7", "zero 40 8", "extents 50 9", "close"),
                bottom.calls);
        assertEquals(bottom.size(), filter.size());
    }

    @Test
    void capabilitiesAreForwardedAndAFilterCanHideOrAddOne() {
        Recorder bottom = new Recorder();
        bottom.caps = Capabilities.READ_ONLY.withExtents(true);
        Filter plain = new Filter(bottom) {
        };
        assertEquals(bottom.caps, plain.capabilities());
        Filter hiding = new Filter(plain) {
            @Override
            public Capabilities capabilities() {
                return next.capabilities().withExtents(false).withFlush(true);
            }
        };
        assertEquals(Capabilities.READ_ONLY.withFlush(true), hiding.capabilities());
    }

    @Test
    void aFilterDescribesItselfAboveTheRestOfTheChain() {
        Filter filter = new Filter(new Recorder()) {
            @Override
            protected String filterName() {
                return "mine";
            }
        };
        assertTrue(filter.describe().startsWith("mine > "), filter.describe());
    }

    @Test
    void aSharedInterfaceDeviceJoinsAChainWithoutZeroOrExtents() throws IOException {
        MemoryBlockDevice memory = new MemoryBlockDevice(new byte[8192], true);
        ExtendedBlockDevice wrapped = ExtendedBlockDevice.of(memory);
        assertFalse(wrapped.capabilities().zero());
        assertFalse(wrapped.capabilities().extents());
        assertEquals(List.of(new Extent(0, 8192, Extent.Type.DATA)), wrapped.extents(0, 8192));
        wrapped.write(100, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        ByteBuffer b = ByteBuffer.allocate(3);
        wrapped.read(100, b);
        assertArrayEquals(new byte[] {1, 2, 3}, b.array());
    }
}
