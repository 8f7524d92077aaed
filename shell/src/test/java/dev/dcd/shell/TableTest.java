package dev.dcd.shell;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TableTest {
    private static final String[] HEADER = {"APP", "VERSION", "FILES", "PATH"};
    private static final boolean[] RIGHT = {false, false, true, false};
    private static final List<String[]> ROWS = List.of(
            new String[]{"greet", "1.0.0", "5", "/srv/dcd/vdisks/5d7f84aea346d2e1c0a2b7f6b2f7a0e8"},
            new String[]{"webapp", "2.1.0", "12345", "/srv"});

    @Test
    void withoutATerminalRowsKeepEveryCharacter() {
        StringWriter text = new StringWriter();
        Table.print(new PrintWriter(text), HEADER, RIGHT, ROWS);
        assertEquals("""
                APP     VERSION  FILES  PATH
                greet   1.0.0        5  /srv/dcd/vdisks/5d7f84aea346d2e1c0a2b7f6b2f7a0e8
                webapp  2.1.0    12345  /srv
                """, text.toString());
    }

    @Test
    void onATerminalTheWidestTextColumnIsEllipsizedToFitAndNumbersStayWhole() {
        List<String> lines = Table.render(HEADER, RIGHT, ROWS, 40);
        for (String line : lines) {
            assertTrue(line.codePointCount(0, line.length()) <= 39, line);
        }
        assertEquals("greet   1.0.0        5  /srv/dcd/vdisk…", lines.get(1));
        assertEquals("webapp  2.1.0    12345  /srv", lines.get(2));
    }

    @Test
    void aWideTerminalChangesNothing() {
        assertEquals(Table.render(HEADER, RIGHT, ROWS, 0), Table.render(HEADER, RIGHT, ROWS, 200));
    }

    @Test
    void aVeryNarrowTerminalCutsEveryTextColumnDownToOneCharacterBeforeGivingUp() {
        List<String> lines = Table.render(HEADER, RIGHT, ROWS, 16);
        assertEquals("g…  1…      5  /…", lines.get(1));
    }

    @Test
    void theTerminalWriterReportsItsWidth() {
        assertEquals(77, Table.width(new Table.TerminalWriter(new StringWriter(), () -> 77)));
        assertEquals(0, Table.width(new PrintWriter(new StringWriter())));
    }
}
