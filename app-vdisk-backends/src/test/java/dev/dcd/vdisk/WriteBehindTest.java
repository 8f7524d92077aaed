package dev.dcd.vdisk;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class WriteBehindTest {
    @TempDir
    Path temp;

    @Test
    void aWriterThatStaysBelowOneStepNeverStartsWriteback() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("small"), false, false)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP - 1);
            behind.finish();
            assertEquals(0, channel.forces.get());
        }
    }

    @Test
    void aWriterOneStepAheadGetsItsBytesForcedWhileItGoesOn() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("ahead"), false, false)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP);
            assertTrue(channel.forced.await(60, TimeUnit.SECONDS), "an fdatasync started");
            behind.finish();
            assertTrue(channel.forces.get() >= 1);
        }
    }

    @Test
    void aFailedBackgroundFdatasyncFailsTheSealEvenIfTheLastFsyncWouldNot() throws Exception {
        try (ForceWatch channel = new ForceWatch(open("failing"), true, false)) {
            WriteBehind behind = new WriteBehind(channel);
            behind.advanced(WriteBehind.STEP);
            assertTrue(channel.forced.await(60, TimeUnit.SECONDS), "an fdatasync started");
            IOException e = assertThrows(IOException.class, behind::finish);
            assertTrue(e.getMessage().contains("EIO from the test"), e.getMessage());
        }
    }

    private FileChannel open(String name) throws IOException {
        return FileChannel.open(temp.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
    }
}
