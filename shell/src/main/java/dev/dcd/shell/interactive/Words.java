package dev.dcd.shell.interactive;

import org.jline.reader.EOFError;
import org.jline.reader.Parser;
import org.jline.reader.SyntaxError;
import org.jline.reader.impl.DefaultParser;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a shell or script line into command words: {@code ${VAR}} substitution from the environment, then
 * splitting with the same quoting rules the line editor uses (single and double quotes, backslash escapes).
 */
final class Words {
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([^}]*)}");
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private Words() {
    }

    /** The parser for the line editor too: a trailing backslash or an open quote continues on the next line. */
    static DefaultParser parser() {
        DefaultParser parser = new DefaultParser();
        parser.setEofOnEscapedNewLine(true);
        parser.setEofOnUnclosedQuote(true);
        return parser;
    }

    /** Replaces every {@code ${NAME}}; an undefined or malformed name is an error naming it. */
    static String expand(String line, Map<String, String> env) throws ShellSyntaxException {
        Matcher m = VARIABLE.matcher(line);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String name = m.group(1);
            if (!NAME.matcher(name).matches()) {
                throw new ShellSyntaxException("bad variable name '${" + name + "}'");
            }
            String value = env.get(name);
            if (value == null) {
                throw new ShellSyntaxException("undefined variable '" + name + "'");
            }
            m.appendReplacement(b, Matcher.quoteReplacement(value));
        }
        m.appendTail(b);
        return b.toString();
    }

    /** Splits a complete line (continuations already joined) into words. */
    static List<String> split(String line) throws ShellSyntaxException {
        String joined = joinContinuations(line);
        try {
            List<String> words = new ArrayList<>(parser().parse(joined, joined.length(), Parser.ParseContext.ACCEPT_LINE).words());
            // The parser reports the (empty) word under the cursor after trailing blanks; it is not an argument.
            if (!words.isEmpty() && words.get(words.size() - 1).isEmpty() && !joined.endsWith("\"\"") && !joined.endsWith("''")) {
                words.remove(words.size() - 1);
            }
            return words;
        } catch (EOFError e) {
            throw new ShellSyntaxException("unfinished line: " + e.getMessage());
        } catch (SyntaxError e) {
            throw new ShellSyntaxException(e.getMessage());
        }
    }

    /** A backslash at the end of a line joins it with the next one, as in sh. */
    static String joinContinuations(String text) {
        return text.replace("\\\r\n", " ").replace("\\\n", " ");
    }

    static boolean continues(String line) {
        int backslashes = 0;
        for (int i = line.length() - 1; i >= 0 && line.charAt(i) == '\\'; i--) {
            backslashes++;
        }
        return backslashes % 2 == 1;
    }
}
