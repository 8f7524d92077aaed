package dev.dcd.shell;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.io.IOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/** Text tables for people, JSON for scripts. */
public final class Output {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss'Z'").withZone(ZoneOffset.UTC);

    private Output() {
    }

    /** Built on first use: Jackson's classes cost a tenth of a second that {@code --help} and tables never need. */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    public static void json(PrintWriter out, Object value) {
        try {
            out.println(Json.MAPPER.writeValueAsString(value));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.flush();
    }

    static String time(long epochMillis) {
        return TIME.format(Instant.ofEpochMilli(epochMillis));
    }

    /** Left-aligned columns; numeric columns are right-aligned when {@code right} names them. */
    static final class Table {
        private final String[] header;
        private final boolean[] right;
        private final List<String[]> rows = new ArrayList<>();

        Table(String... header) {
            this.header = header;
            this.right = new boolean[header.length];
        }

        Table right(int... columns) {
            for (int c : columns) {
                right[c] = true;
            }
            return this;
        }

        Table row(Object... cells) {
            String[] row = new String[header.length];
            for (int i = 0; i < header.length; i++) {
                row[i] = i < cells.length && cells[i] != null ? cells[i].toString() : "";
            }
            rows.add(row);
            return this;
        }

        void print(PrintWriter out) {
            dev.dcd.shell.Table.print(out, header, right, rows); // width-aware when out is a terminal
        }
    }
}
