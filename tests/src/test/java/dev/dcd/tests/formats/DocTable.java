package dev.dcd.tests.formats;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One byte-layout table of a format document (`| offset | size | field | value |`), read from the Markdown
 * itself, and the checks that pin a real instance's bytes to it: each row's named constant equals the row's
 * offset, rows follow each other without gaps, and the bytes at each offset equal the documented value (an
 * ASCII magic, a number, zeros, a CRC32C of a documented range) or the value the test knows for that field.
 */
final class DocTable {
    /** A row: {@code offset} and {@code size} as written (numbers, or expressions such as {@code 5+*p*}). */
    record Row(String offset, String size, String field, String value) {
        /** The constant the field cell names in backticks, else the cell's text. */
        String key() {
            Matcher m = CONSTANT.matcher(field);
            return m.find() ? m.group(1) : field.replace("*", "").trim();
        }

        boolean named() {
            return CONSTANT.matcher(field).find();
        }
    }

    private static final Pattern CONSTANT = Pattern.compile("`([A-Z][A-Z0-9_]*)`");
    private static final Pattern ASCII = Pattern.compile("^ASCII `([^`]+)`");
    private static final Pattern CRC = Pattern.compile("^CRC32C of bytes \\[(\\d+), (\\d+|file length)\\)");
    private static final Pattern NUMBER = Pattern.compile("^\\d+$");

    final String doc;
    final String heading;
    final List<Row> rows;

    private DocTable(String doc, String heading, List<Row> rows) {
        this.doc = doc;
        this.heading = heading;
        this.rows = rows;
    }

    static Path docs() {
        Path here = Path.of("").toAbsolutePath();
        for (Path p = here; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("docs")) && Files.isRegularFile(p.resolve("pom.xml"))
                    && Files.isDirectory(p.resolve("tests"))) {
                return p.resolve("docs");
            }
        }
        throw new IllegalStateException("no docs/ above " + here);
    }

    /** The first table after the first heading that contains {@code heading}. */
    static DocTable read(String doc, String heading) throws IOException {
        List<String> lines = Files.readAllLines(docs().resolve(doc), StandardCharsets.UTF_8);
        int i = 0;
        while (i < lines.size() && !(lines.get(i).startsWith("#") && lines.get(i).contains(heading))) {
            i++;
        }
        assertTrue(i < lines.size(), doc + " has no heading with '" + heading + "'");
        while (i < lines.size() && !lines.get(i).startsWith("| offset")) {
            i++;
        }
        assertTrue(i < lines.size(), doc + ": no table after '" + heading + "'");
        List<Row> rows = new ArrayList<>();
        for (i += 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String[] cells = lines.get(i).split("\\|", -1);
            assertTrue(cells.length >= 5, doc + ": a row of '" + heading + "' lacks a column: " + lines.get(i));
            rows.add(new Row(cells[1].trim(), cells[2].trim(), cells[3].trim(), cells.length >= 6 ? cells[4].trim() : ""));
        }
        assertFalse(rows.isEmpty(), doc + ": empty table after '" + heading + "'");
        return new DocTable(doc, heading, rows);
    }

    Row row(String key) {
        return rows.stream().filter(r -> r.key().equals(key)).findFirst()
                .orElseThrow(() -> new AssertionError(doc + " '" + heading + "' has no row " + key));
    }

    /** Each named field's constant in {@code owner} equals its documented offset. */
    DocTable constantsOf(Class<?> owner) throws ReflectiveOperationException {
        for (Row r : rows) {
            if (r.named() && NUMBER.matcher(r.offset()).matches()) {
                Field f = owner.getDeclaredField(r.key());
                f.setAccessible(true);
                assertEquals(Long.parseLong(r.offset()), ((Number) f.get(null)).longValue(),
                        doc + " '" + heading + "': " + owner.getSimpleName() + "." + r.key());
            }
        }
        return this;
    }

    /** Numbered rows follow each other without gap or overlap, and end at {@code length} if it is given. */
    DocTable contiguous(long length) {
        long end = 0;
        for (Row r : rows) {
            if (!NUMBER.matcher(r.offset()).matches() || !NUMBER.matcher(r.size()).matches()) {
                break;
            }
            assertEquals(end, Long.parseLong(r.offset()), doc + " '" + heading + "': row " + r.field() + " starts");
            end += Long.parseLong(r.size());
        }
        if (length >= 0) {
            assertEquals(length, end, doc + " '" + heading + "': the rows end at");
        }
        return this;
    }

    /**
     * The structure at {@code base} of {@code bytes} matches every row: literal values from the document, the
     * others from {@code known} (a Long for a little-endian number of the row's size, a byte[] for exact bytes,
     * a LongPredicate). {@code vars} gives values of the variables in offsets such as {@code 5+*p*}. A row that
     * has neither a literal value nor a known one fails: every documented field is checked.
     */
    void matches(byte[] bytes, int base, Map<String, Object> known, Map<String, Long> vars) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (Row r : rows) {
            Long offset = eval(r.offset(), vars);
            if (offset == null) {
                continue;   // "…": position depends on earlier variable-length parts
            }
            int at = base + offset.intValue();
            String where = doc + " '" + heading + "' " + r.key() + " at " + at;
            Long size = eval(r.size(), vars);
            Object expected = known.get(r.key());
            Matcher ascii = ASCII.matcher(r.value());
            Matcher crc = CRC.matcher(r.value());
            if (expected != null) {
                check(b, at, size, expected, where);
            } else if (ascii.find()) {
                byte[] magic = ascii.group(1).getBytes(StandardCharsets.US_ASCII);
                assertEquals(size, (long) magic.length, where + ": magic length");
                check(b, at, size, magic, where);
            } else if (NUMBER.matcher(r.value()).matches() && size != null) {
                long v = Long.parseLong(r.value());
                if (v == 0) {
                    check(b, at, size, new byte[size.intValue()], where);
                } else {
                    check(b, at, size, v, where);
                }
            } else if (crc.find()) {
                int from = base + Integer.parseInt(crc.group(1));
                int to = crc.group(2).equals("file length") ? bytes.length : base + Integer.parseInt(crc.group(2));
                CRC32C c = new CRC32C();
                c.update(bytes, from, to - from);
                assertEquals(4L, size, where);
                assertEquals((int) c.getValue(), b.getInt(at), where + ": CRC32C of [" + from + ", " + to + ")");
            } else {
                fail(where + ": the document gives no literal value (" + r.value() + ") and the test knows none");
            }
        }
    }

    private static void check(ByteBuffer b, int at, Long size, Object expected, String where) {
        if (expected instanceof byte[] e) {
            if (size != null) {
                assertEquals((long) e.length, size, where + ": size");
            }
            byte[] actual = new byte[e.length];
            b.get(at, actual);
            assertArrayEquals(e, actual, where);
        } else if (expected instanceof Long v) {
            assertEquals(v.longValue(), read(b, at, size.intValue()), where);
        } else if (expected instanceof LongPredicate p) {
            long v = read(b, at, size.intValue());
            assertTrue(p.test(v), where + ": " + v);
        } else {
            throw new IllegalArgumentException(where + ": " + expected);
        }
    }

    private static long read(ByteBuffer b, int at, int size) {
        return switch (size) {
            case 1 -> b.get(at) & 0xffL;
            case 2 -> b.getShort(at) & 0xffffL;
            case 4 -> b.getInt(at) & 0xffffffffL;
            case 8 -> b.getLong(at);
            default -> throw new IllegalArgumentException("a number of " + size + " bytes");
        };
    }

    /** "12", "5+*p*", "53+*p*+*t*", "16·*E*": a sum of terms; null for anything else ("…", "rest"). */
    static Long eval(String expression, Map<String, Long> vars) {
        long sum = 0;
        for (String term : expression.replace(" ", "").split("\\+")) {
            long product = 1;
            for (String factor : term.split("·")) {
                String f = factor.replace("*", "");
                if (NUMBER.matcher(f).matches()) {
                    product *= Long.parseLong(f);
                } else if (vars.containsKey(f)) {
                    product *= vars.get(f);
                } else {
                    return null;
                }
            }
            sum += product;
        }
        return sum;
    }
}
