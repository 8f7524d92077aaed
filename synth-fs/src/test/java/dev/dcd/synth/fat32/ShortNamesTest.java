package dev.dcd.synth.fat32;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ShortNamesTest {
    private static String chosen(String name, Set<String> taken) {
        return ShortNames.key(ShortNames.choose(name, taken));
    }

    private static String chosen(String name) {
        return chosen(name, new HashSet<>());
    }

    @Test
    void aValid83NameKeepsItsNameInUpperCaseWithoutATail() {
        assertEquals("README  TXT", chosen("readme.txt"));
        assertEquals("CONFIG  SYS", chosen("CONFIG.SYS"));
        assertEquals("MAKEFILE   ", chosen("Makefile"));
        assertEquals("A-B_C{1}ZIP", chosen("a-b_c{1}.zip"));
    }

    @Test
    void longNamesGetSixCharactersAndTheFirstFreeTail() {
        assertEquals("LONGFI~1TXT", chosen("long file name.txt"));
        assertEquals("FILE~1  GZ ", chosen("file.tar.gz"), "name before the first dot, extension after the last");
        assertEquals("ABC~1   DEF", chosen("abc.defg"), "extension cut to three characters");
        assertEquals("ABCD~1     ", chosen("ab cd"), "spaces are dropped");
        assertEquals("BASHRC~1   ", chosen(".bashrc"), "leading dots are dropped");
    }

    @Test
    void charactersShortNamesCannotHoldBecomeUnderscoresAndForceATail() {
        assertEquals("A_B~1   C  ", chosen("a+b.c"));
        assertEquals("______~1TXT", chosen("Имя файла.txt"));
        assertEquals("_____~1 MD ", chosen("中文文件名.md"));
        assertEquals("EMOJI_~1BIN", chosen("emoji 😀.bin"), "a surrogate pair is one character, one underscore");
        assertEquals("README~1TXT", chosen("readme.txt", new HashSet<>(Set.of("README  TXT"))),
                "a valid 8.3 name already taken falls back to a tail");
    }

    @Test
    void collisionsCountUpAndShortenTheBaseAsTheTailGrows() {
        Set<String> taken = new HashSet<>();
        for (int i = 1; i <= 9; i++) {
            assertEquals("LONGFI~" + i + "TXT", chosen("longfilename" + i + ".txt", taken));
        }
        assertEquals("LONGF~10TXT", chosen("longfilename10.txt", taken));
        for (int i = 11; i <= 100; i++) {
            chosen("longfilename" + i + ".txt", taken);
        }
        assertEquals("LONG~101TXT", chosen("longfilename101.txt", taken));
        assertEquals("XY~1       ", chosen("x y", new HashSet<>()));
    }

    @Test
    void resumingFromTheLastTailOfABasisGivesTheSameNamesAsSearchingFromOne() {
        Set<String> fromOne = new HashSet<>();
        Set<String> resumed = new HashSet<>();
        java.util.Map<String, Integer> hints = new java.util.HashMap<>();
        for (int i = 0; i < 2000; i++) {
            String name = (i % 3 == 0 ? "other name " : "file number ") + i + ".dat";
            assertEquals(chosen(name, fromOne), ShortNames.key(ShortNames.choose(name, resumed, hints)), name);
        }
        assertTrue(resumed.contains("FILE~999DAT") && resumed.contains("FIL~1000DAT"));
    }

    @Test
    void theLongNameChecksumMatchesWhatMtoolsWrites() {
        // Values read from volumes mtools 4.0.32 wrote for these names.
        assertEquals(212, ShortNames.checksum("LONGFI~1TXT".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(8, ShortNames.checksum("A_B~1   C  ".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(48, ShortNames.checksum("______~1TXT".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void displayJoinsBaseAndExtensionLikeDirectoryListingsDo() {
        assertEquals("README.TXT", ShortNames.display("README  TXT".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("MAKEFILE", ShortNames.display("MAKEFILE   ".getBytes(StandardCharsets.US_ASCII)));
    }
}
