package dev.dcd.synth;

import dev.dcd.testing.ProcessRunner;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/** The GPT is judged by util-linux's sfdisk, which checks both headers and their CRCs. */
class GptTest {
    @TempDir
    Path temp;

    @Test
    void sfdiskReadsOnePartitionAtOneMebibyteWithTheRightType() throws Exception {
        long size = 64L << 20;
        Path image = temp.resolve("disk.img");
        Gpt.Layout layout = Gpt.layout(size);
        try (ThinImage thin = ThinImage.create(image, size)) {
            Gpt.write(thin, layout, Gpt.LINUX_FILESYSTEM, UUID.fromString("11111111-2222-4333-8444-555555555555"),
                    UUID.fromString("66666666-7777-4888-8999-aaaaaaaaaaaa"), "dcd");
        }
        assertEquals(1L << 20, layout.partitionOffset());
        assertEquals(0, layout.partitionLength() % (1L << 20));
        assertTrue(layout.partitionEnd() <= size - 33 * 512);
        String out = ProcessRunner.command("sfdisk", "--dump", image.toString()).mergeErr().run().requireOk().out();
        assertTrue(out.contains("label: gpt"), out);
        assertTrue(out.contains("label-id: 11111111-2222-4333-8444-555555555555"), out);
        assertTrue(out.contains("start=        2048"), out);
        assertTrue(out.contains("size=      " + layout.partitionLength() / 512), out);
        assertTrue(out.contains("type=0FC63DAF-8483-4772-8E79-3D69D8477DE4"), out);
        assertTrue(out.contains("uuid=66666666-7777-4888-8999-AAAAAAAAAAAA"), out);
        assertTrue(out.contains("name=\"dcd\""), out);
        String verified = ProcessRunner.command("sfdisk", "--verify", image.toString()).mergeErr().run().requireOk().out();
        assertFalse(verified.toLowerCase().contains("corrupt"), verified);
        assertTrue(SynthesizedDisk.allocatedBytes(image) <= 128 * 1024, "the thin image stays sparse");
        assertTrue(Files.size(image) == size);
    }
}
