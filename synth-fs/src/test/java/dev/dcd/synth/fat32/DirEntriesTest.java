package dev.dcd.synth.fat32;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

import static org.junit.jupiter.api.Assertions.*;

class DirEntriesTest {
    @Test
    void aNameFillingItsLastLongEntryExactlyHasNoTerminator() {
        String name = "abcdefghijklmnopqrstuvwxyz";   // 26 = 2 * 13
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        DirEntries.putLongName(b, name, 0x5A);
        assertEquals(2, DirEntries.longEntryCount(name));
        assertEquals(0x42, b.get(0) & 0xFF, "the first physical entry is the last part, flagged");
        assertEquals(0x01, b.get(32) & 0xFF);
        assertEquals('n', b.getChar(1), "part 2 starts with the 14th character");
        assertEquals('z', b.getChar(28 + 2), "and ends with the 26th in its last slot");
        assertEquals(0x0F, b.get(11));
        assertEquals(0x5A, b.get(13) & 0xFF);
        assertEquals(0x5A, b.get(32 + 13) & 0xFF);
    }

    @Test
    void aShorterNameEndsInOneNulAndIsPaddedWithFfff() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        DirEntries.putLongName(b, "😀ab", 1);   // a surrogate pair counts as two UTF-16 units
        assertEquals(1, DirEntries.longEntryCount("😀ab"));
        assertEquals(0x41, b.get(0));
        assertEquals('\uD83D', b.getChar(1));
        assertEquals('\uDE00', b.getChar(3));
        assertEquals(0, b.getChar(9), "NUL after the 4th unit");
        assertEquals(0xFFFF, b.getChar(14));
        assertEquals(0xFFFF, b.getChar(30));
    }

    @Test
    void timestampsHaveTwoSecondResolutionAndClampToTheFatEra() {
        long t = LocalDateTime.of(2024, 2, 29, 13, 45, 31).toEpochSecond(ZoneOffset.UTC);
        assertEquals(((2024 - 1980) << 9) | (2 << 5) | 29, DirEntries.fatDate(t));
        assertEquals((13 << 11) | (45 << 5) | 15, DirEntries.fatTime(t));
        assertEquals((1 << 5) | 1, DirEntries.fatDate(0), "before 1980 clamps to 1980-01-01");
        assertEquals((127 << 9) | (12 << 5) | 31, DirEntries.fatDate(LocalDateTime.of(2200, 1, 1, 0, 0).toEpochSecond(ZoneOffset.UTC)), "after 2107 clamps to its last day");
    }

    @Test
    void theShortEntryCarriesTheOddSecondAndHundredthsInTheCreationTenths() {
        long t = LocalDateTime.of(2024, 1, 1, 0, 0, 1).toEpochSecond(ZoneOffset.UTC);
        ByteBuffer b = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        DirEntries.putShort(b, "FILE    TXT".getBytes(), DirEntries.ATTR_ARCHIVE, 0x12345, 99, t, 250_000_000);
        assertEquals(125, b.get(DirEntries.D_CRT_TIME_TENTH));
        assertEquals(0x1, b.getShort(DirEntries.D_FST_CLUS_HI));
        assertEquals(0x2345, b.getShort(DirEntries.D_FST_CLUS_LO));
        assertEquals(99, b.getInt(DirEntries.D_FILE_SIZE));
    }
}
