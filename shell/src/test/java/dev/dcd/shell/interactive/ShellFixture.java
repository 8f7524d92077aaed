package dev.dcd.shell.interactive;

import dev.dcd.shell.Main;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/** A private dcd home with apps greet@1.0.0 and webapp@2.1.0 imported and VM web1 created. */
final class ShellFixture {
    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-05-06T07:08:09Z"), ZoneOffset.UTC);

    final Path temp;
    final Path home;
    final Map<String, String> env = new HashMap<>();

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    ShellFixture(Path temp) throws IOException {
        this.temp = temp;
        this.home = temp.resolve("home");
        env.put("DCD_HOME", home.toString());
        env.put("HOME", temp.resolve("user").toString());
        Path greet = Files.createDirectories(temp.resolve("apps/greet-1.0.0/bin"));
        Files.writeString(greet.resolve("greet"), "#!/bin/sh\necho hello\n");
        Path webapp = Files.createDirectories(temp.resolve("apps/webapp-2.1.0"));
        Files.writeString(webapp.resolve("index.html"), "<h1>hi</h1>\n");
        cli("catalog", "import", greet.getParent().toString());
        cli("catalog", "import", webapp.toString());
        cli("vm", "create", "web1", "--size", "64M");
    }

    /** A one-shot dcd command that must succeed. */
    String cli(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, out, err, env, CLOCK, false);
        if (code != 0) {
            throw new AssertionError("dcd " + String.join(" ", args) + ": exit " + code + ": " + err);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** Runs a script file named {@code name} in the temp directory, as {@code dcd --script FILE [--keep-going]}. */
    Result script(String name, String text, boolean keepGoing) throws IOException {
        Path file = temp.resolve(name);
        Files.writeString(file, text);
        return run(new ShellMain.Options(null, false, keepGoing, file.toString()), "");
    }

    /** Runs commands from stdin, as {@code dcd shell < FILE}. */
    Result stdin(String text) {
        return run(new ShellMain.Options(null, false, false, null), text);
    }

    Result run(ShellMain.Options options, String stdin) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = ShellMain.script(options, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), out, err,
                env, CLOCK);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A shell session on this home whose output and errors go to the given sinks (they may be the same one). */
    ShellSession session(java.io.OutputStream out, java.io.OutputStream err) {
        Redirect o = new Redirect(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8));
        Redirect e = new Redirect(new java.io.OutputStreamWriter(err, StandardCharsets.UTF_8));
        dev.dcd.shell.Context context = new dev.dcd.shell.Context(env, new dev.dcd.shell.Table.TerminalWriter(o, () -> 0),
                new dev.dcd.shell.Table.TerminalWriter(e, () -> 0), CLOCK, false);
        return new ShellSession(context, o, e, false);
    }

    static Optional<ShellMain.Options> options(String... args) {
        return ShellMain.Options.parse(args);
    }
}
