package dev.dcd.synth.fat32;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FatNamesTest {
    @Test
    void ordinaryAndNonLatinNamesAreAccepted() {
        for (String ok : new String[] {"a", "readme.txt", ".bashrc", "a+b,c;d=e[f]", "Имя", "中文", "😀", "con-fig", "com10",
                "lpt", "console.log", "x".repeat(255)}) {
            assertNull(FatNames.problem(ok), ok);
        }
    }

    @Test
    void forbiddenCharactersDeviceNamesTrailingDotsAndOverlongNamesAreRejected() {
        assertEquals("character '?' is not allowed in FAT names", FatNames.problem("what?"));
        assertEquals("control character U+001F in name", FatNames.problem("a\u001Fb"));
        assertEquals("reserved device name CON", FatNames.problem("con"));
        assertEquals("reserved device name LPT9", FatNames.problem("Lpt9.tar.gz"));
        assertEquals("name ends in a dot, which Windows strips", FatNames.problem("name."));
        assertEquals("name ends in a space, which Windows strips", FatNames.problem("name "));
        assertEquals("name longer than 255 UTF-16 characters", FatNames.problem("x".repeat(256)));
    }

    @Test
    void caseKeysEquateWhatWindowsEquatesAndNothingMore() {
        assertEquals(FatNames.caseKey("ReadMe.TXT"), FatNames.caseKey("readme.txt"));
        assertEquals(FatNames.caseKey("привет"), FatNames.caseKey("ПРИВЕТ"));
        assertNotEquals(FatNames.caseKey("straße"), FatNames.caseKey("STRASSE"), "no multi-character case folding");
    }
}
