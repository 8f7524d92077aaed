package dev.dcd.shell;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.channels.ClosedByInterruptException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The one place an exception becomes the line a user reads after {@code dcd: }. A message dcd wrote for the
 * user is shown as it is; what the JDK or a library says in its own words (a bare path, "null", "Index 90
 * out of bounds for length 3", a class name) never is: file-system failures are put in plain words and
 * programming errors become "internal error" with a pointer to {@code --debug}, which prints the stack trace.
 */
public final class ErrorLine {
    /** Longest line shown; a longer one (a name echoed in full) is cut with an ellipsis. */
    static final int MAX_LENGTH = 400;
    static final String INTERNAL = "internal error; run again with --debug for the stack trace, and please report it";
    private static final String DCD_PACKAGE = "dev.dcd.";

    private ErrorLine() {
    }

    public static String of(Throwable thrown) {
        Throwable e = unwrap(thrown);
        String line = describe(e);
        int newline = line.indexOf('\n');
        if (newline >= 0) {
            line = line.substring(0, newline);
        }
        // "cannot mount VM vc: null": a message built around an inner exception that had none.
        while (line.endsWith(": null")) {
            line = line.substring(0, line.length() - ": null".length());
        }
        return cut(line.strip(), MAX_LENGTH);
    }

    /** {@code text} itself, or its first {@code max} characters and an ellipsis. */
    public static String cut(String text, int max) {
        if (text.codePointCount(0, text.length()) <= max) {
            return text;
        }
        return text.substring(0, text.offsetByCodePoints(0, max)) + "…";
    }

    private static String describe(Throwable e) {
        String message = meaningful(e.getMessage());
        if (e instanceof Error) {
            return e instanceof OutOfMemoryError ? "out of memory; " + INTERNAL : INTERNAL;
        }
        if (isProgrammingError(e)) {
            return INTERNAL;
        }
        if (e instanceof FileSystemException fs) {
            return fileSystem(fs);
        }
        if (e instanceof ClosedByInterruptException || e instanceof InterruptedException) {
            return "interrupted";
        }
        if (message != null && (e.getClass().getName().startsWith(DCD_PACKAGE) || thrownByDcd(e)
                || e instanceof picocli.CommandLine.ParameterException)) {
            return message;
        }
        if (e instanceof IOException) {
            return message == null ? "I/O error; run again with --debug for details" : "I/O error: " + message;
        }
        return INTERNAL;
    }

    /** Exceptions that only a bug throws; their texts describe code, not the user's request. */
    private static boolean isProgrammingError(Throwable e) {
        return e instanceof NullPointerException || e instanceof IndexOutOfBoundsException
                || e instanceof ClassCastException || e instanceof ArithmeticException
                || e instanceof NegativeArraySizeException || e instanceof ArrayStoreException
                || e instanceof java.nio.BufferUnderflowException || e instanceof java.nio.BufferOverflowException
                || e instanceof java.util.ConcurrentModificationException || e instanceof java.util.NoSuchElementException;
    }

    /** True when the innermost frame is dcd's own code, so the message is one dcd wrote. */
    private static boolean thrownByDcd(Throwable e) {
        StackTraceElement[] frames = e.getStackTrace();
        return frames.length > 0 && frames[0].getClassName().startsWith(DCD_PACKAGE);
    }

    private static String fileSystem(FileSystemException e) {
        String reason;
        if (e instanceof NoSuchFileException) {
            reason = "no such file or directory";
        } else if (e instanceof AccessDeniedException) {
            reason = "permission denied";
        } else if (e instanceof FileAlreadyExistsException) {
            reason = "already exists";
        } else if (e instanceof DirectoryNotEmptyException) {
            reason = "directory not empty";
        } else if (e instanceof NotDirectoryException) {
            reason = "not a directory";
        } else {
            String given = meaningful(e.getReason());
            reason = given == null ? "I/O error" : given;
        }
        String file = meaningful(e.getFile());
        String other = meaningful(e.getOtherFile());
        if (file == null) {
            return reason;
        }
        return cut(file, 200) + (other == null ? "" : " -> " + cut(other, 200)) + ": " + reason;
    }

    /** Null for a message that says nothing: absent, blank, or the word "null". */
    private static String meaningful(String message) {
        if (message == null || message.isBlank() || message.strip().equals("null")) {
            return null;
        }
        return message;
    }

    /** The exception behind the wrappers that only carry it across a thread or an API. */
    private static Throwable unwrap(Throwable e) {
        Throwable current = e;
        for (int depth = 0; depth < 16 && current.getCause() != null; depth++) {
            boolean wrapper = current instanceof ExecutionException || current instanceof CompletionException
                    || current instanceof java.io.UncheckedIOException
                    || current instanceof java.lang.reflect.InvocationTargetException
                    || current instanceof java.lang.reflect.UndeclaredThrowableException
                    || current instanceof picocli.CommandLine.ExecutionException;
            if (!wrapper) {
                break;
            }
            current = current.getCause();
        }
        return current;
    }
}
