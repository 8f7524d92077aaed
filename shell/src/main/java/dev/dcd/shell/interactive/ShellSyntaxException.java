package dev.dcd.shell.interactive;

/** A line the shell cannot turn into words: an undefined variable, an unclosed quote. */
final class ShellSyntaxException extends Exception {
    ShellSyntaxException(String message) {
        super(message);
    }
}
