package dev.dcd.vdisk;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Names come back from a manifest exactly as written, ASCII or not, and a name that is not UTF-8 is refused. */
class ManifestNamesTest {
    private static Entry file(String path) {
        return new Entry(path, EntryType.FILE, 0644, 0, 0, 1_700_000_000L, 0, 0, 0, Entry.NO_HASH, "");
    }

    private static Manifest roundTrip(String... paths) throws IOException {
        List<Entry> entries = java.util.Arrays.stream(paths).map(ManifestNamesTest::file).toList();
        return Manifest.decode(new Manifest("app", "1", entries, 4096, 0, new int[0]).encode());
    }

    @Test
    void asciiAndNonAsciiNamesRoundTrip() throws IOException {
        Manifest m = roundTrip("bin/plain", "share/caf\u00e9", "share/\u65e5\u672c", "share/\ud83d\ude00");
        assertEquals(List.of("bin/plain", "share/caf\u00e9", "share/\u65e5\u672c", "share/\ud83d\ude00"),
                m.entries().stream().map(Entry::path).toList());
    }

    @Test
    void aNameThatIsNotUtf8IsRefused() throws IOException {
        byte[] encoded = new Manifest("app", "1", List.of(file("bin/abc\u00e9")), 4096, 0, new int[0]).encode();
        byte[] name = "abc\u00e9".getBytes(StandardCharsets.UTF_8);
        int at = indexOf(encoded, name);
        encoded[at + name.length - 1] = (byte) 0x28; // 0xC3 0x28: a lead byte without its continuation
        IOException e = assertThrows(IOException.class, () -> Manifest.decode(encoded));
        assertEquals("manifest has a name that is not UTF-8", e.getMessage());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
