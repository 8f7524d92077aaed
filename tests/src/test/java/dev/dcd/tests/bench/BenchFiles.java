package dev.dcd.tests.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** Where a benchmark's scratch files go when it ends, and where its report goes. */
final class BenchFiles {
    /** Reports land here (relative to the module, so {@code tests/target/bench/}), beside the console output. */
    private static final Path REPORTS = Path.of("target", "bench");

    private BenchFiles() {
    }

    /** Removes {@code dir} and everything below it, deepest first; what cannot be deleted is left (best effort). */
    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Prints the report under its title and writes it to {@code target/bench/NAME}, one line a line. */
    static void writeReport(String title, String name, List<String> lines) throws IOException {
        String text = String.join("\n", lines) + "\n";
        System.out.print(title + "\n" + text);
        write(name, text);
    }

    /** Prints the report as it is and writes it to {@code target/bench/NAME}. */
    static void writeReport(String name, CharSequence report) throws IOException {
        System.out.print(report);
        write(name, report);
    }

    private static void write(String name, CharSequence text) throws IOException {
        Files.createDirectories(REPORTS);
        Files.writeString(REPORTS.resolve(name), text, StandardCharsets.UTF_8);
    }
}
