package dev.dcd.backend;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every backend words a bad URI parameter the same way: backend, parameter, what it must be; never its value. */
class UriParametersTest {
    private final UriParameters nbd = new UriParameters("nbd");

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void aNumberOutsideItsRangeNamesTheBackendTheParameterAndTheRange() {
        assertEquals("nbd parameter 'connections' must be between 1 and 64",
                message(() -> nbd.range("connections", 100, 1, 64)));
        assertEquals(64, nbd.intRange("connections", 64, 1, 64));
    }

    @Test
    void somethingThatIsNoNumberIsRefusedWithoutEchoingIt() {
        String m = message(() -> nbd.number("deadline-ms", "secret-ish"));
        assertEquals("nbd parameter 'deadline-ms' must be a whole number", m);
        assertFalse(m.contains("secret"));
        assertEquals("nbd parameter 'pipeline' must be a whole number", message(() -> nbd.wholeNumber("pipeline", "9999999999")));
    }

    @Test
    void booleansTakeTheUsualSpellingsAndTheBareKey() {
        assertTrue(nbd.bool("x", "YES") && nbd.bool("x", "1") && nbd.bool("x", ""));
        assertFalse(nbd.bool("x", "no") || nbd.bool("x", "0") || nbd.bool("x", "False"));
        assertEquals("nbd parameter 'x' must be true or false", message(() -> nbd.bool("x", "maybe")));
    }

    @Test
    void printableKeepsARejectedNameOnOneShortLine() {
        assertEquals("a?b", UriParameters.printable("a\nb"));
        assertEquals(80, UriParameters.printable("y".repeat(200)).length());
        assertEquals("", UriParameters.printable(null));
    }
}
