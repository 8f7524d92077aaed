package dev.dcd.tests.fat32;

import dev.dcd.synth.DiskSpec;
import dev.dcd.synth.SynthesisException;
import dev.dcd.synth.SynthesizedDisk;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** Each rule FAT imposes fails the build with one clear line naming paths and apps, and writes nothing. */
class Fat32RulesIT {
    @TempDir
    Path temp;

    private SynthesisException refused(FatFixture fx, DiskSpec spec) {
        Path out = temp.resolve("gen");
        SynthesisException e = assertThrows(SynthesisException.class, () -> fx.synthesize(spec, out));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(out), "nothing may be written for a refused build");
        return e;
    }

    private SynthesisException refused(FatFixture fx) {
        return refused(fx, FatFixture.spec(128L << 20).build());
    }

    @Test
    void aFileOfFourGibibytesIsRefusedNamingItsPathAndApp() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.manifestOnly("huge", "1.0", 1L << 32, "data/huge.bin");
        fx.manifestOnly("almost", "1.0", (1L << 32) - 1, "data/almost.bin");
        SynthesisException e = refused(fx, FatFixture.spec(16L << 30).build());
        assertTrue(e.getMessage().contains("/data/huge.bin (huge@1.0)"), e.getMessage());
        assertTrue(e.getMessage().contains("larger than FAT32's 4 GiB - 1"), e.getMessage());
        assertEquals(1, e.details().size());
    }

    @Test
    void namesDifferingOnlyInCaseAcrossTwoAppsAreRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("one", "1.0", a -> a.file("etc/Config.ini", "a"));
        fx.app("two", "2.0", a -> a.file("etc/config.INI", "b"));
        SynthesisException e = refused(fx);
        assertTrue(e.getMessage().contains("/etc/config.INI (two@2.0): differs only in letter case from "
                + "/etc/Config.ini (one@1.0)"), e.getMessage());
    }

    @Test
    void everyForbiddenCharacterAndControlCharacterIsRefusedAndAllAreListed() throws Exception {
        FatFixture fx = new FatFixture(temp);
        String[] bad = {"quote\"d", "star*", "colon:", "less<", "more>", "what?", "back\\slash", "pipe|", "bell\u0007",
                "tab\tname"};
        fx.app("chars", "1.0", a -> {
            for (String name : bad) {
                a.file("bad/" + name, "x");
            }
            a.file("bad/fine name", "ok");
        });
        SynthesisException e = refused(fx);
        assertEquals(bad.length, e.details().size(), String.join("\n", e.details()));
        assertTrue(e.getMessage().startsWith(bad.length + " name(s) cannot be stored on FAT32: /bad/"), e.getMessage());
        assertTrue(String.join("\n", e.details()).contains("/bad/pipe| (chars@1.0): character '|' is not allowed"));
        assertTrue(String.join("\n", e.details()).contains("control character U+0007"));
    }

    @Test
    void reservedDeviceNamesAreRefusedAlsoWithExtensionsAndInAnyCase() throws Exception {
        FatFixture fx = new FatFixture(temp);
        List<String> devices = List.of("CON", "prn", "Aux", "nul.txt", "COM1", "com9.log", "LPT1", "lpt9.tar.gz");
        fx.app("dev", "1.0", a -> {
            for (String name : devices) {
                a.file("d/" + name, "x");
            }
            a.file("d/console", "fine").file("d/com10", "fine").file("d/lpt", "fine");
        });
        SynthesisException e = refused(fx);
        assertEquals(devices.size(), e.details().size(), String.join("\n", e.details()));
        assertTrue(e.details().contains("/d/nul.txt (dev@1.0): reserved device name NUL"), e.details().toString());
    }

    @Test
    void aPathLongerThan260CharactersIsRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        String deep = "a".repeat(100) + "/" + "b".repeat(100) + "/" + "c".repeat(60);   // 262 characters
        fx.app("deep", "1.0", a -> a.file(deep, "x").file("short/" + "d".repeat(100), "fine"));
        SynthesisException e = refused(fx);
        assertEquals(List.of("/" + deep + " (deep@1.0): path of 262 characters is longer than Windows' 260"),
                e.details());
    }

    @Test
    void namesEndingInADotOrASpaceAreRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("trail", "1.0", a -> a.file("x/name.", "x").file("x/name ", "y").file("x/.name", "fine"));
        SynthesisException e = refused(fx);
        assertEquals(List.of("/x/name  (trail@1.0): name ends in a space, which Windows strips",
                "/x/name. (trail@1.0): name ends in a dot, which Windows strips"), e.details());
    }

    @Test
    void appsThatDoNotFitTheDiskAreRefusedNamingEachApp() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("big", "1.0", a -> a.bigFile("big.bin", 40L << 20, 1));
        fx.app("bigger", "2.0", a -> a.bigFile("bigger.bin", 30L << 20, 2));
        SynthesisException e = refused(fx, FatFixture.spec(64L << 20).build());
        assertTrue(e.getMessage().startsWith("the apps do not fit"), e.getMessage());
        assertTrue(e.getMessage().contains("big@1.0 needs 41943040 bytes") && e.getMessage().contains("bigger@2.0"),
                e.getMessage());
    }

    @Test
    void aDirectoryNeedingMoreThan65536EntriesIsRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < 22_000; i++) {
            names.add("crowded/a long name " + i);
        }
        fx.manifestOnly("crowd", "1.0", 0, names.toArray(String[]::new));
        SynthesisException e = refused(fx);
        // "." and "..", 10 names of 13 characters (1 long entry + short), 21 990 longer ones (2 long + short).
        assertEquals(List.of("/crowded: 65992 directory entries, more than the 65536 FAT allows in one directory"),
                e.details());
    }

    @Test
    void aDiskLargerThanFat32CanAddressIsRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.manifestOnly("any", "1.0", 10, "a/file");
        SynthesisException e = refused(fx, FatFixture.spec(3L << 40).build());
        assertTrue(e.getMessage().contains("larger than FAT32's 2 TiB limit"), e.getMessage());
    }

    @Test
    void aDiskTooSmallForFat32IsRefused() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("tiny", "1.0", a -> a.file("f", "x"));
        SynthesisException e = refused(fx, FatFixture.spec(32L << 20).build());
        assertTrue(e.getMessage().contains("too small for FAT32"), e.getMessage());
    }

    @Test
    void symlinksAreSkippedWithAWarningUnderTheSkipPolicy() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("links", "1.0", a -> a.file("bin/tool", "#!/bin/sh\n").symlink("bin/alias", "tool"));
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(128L << 20).build(), temp.resolve("gen"));
        assertEquals(List.of("skipped symlink /bin/alias (links@1.0) -> tool: FAT has no symlinks"), disk.warnings());
        Path part = FatFixture.partition(disk, fx.materialize(disk, temp.resolve("raw")), temp.resolve("part"));
        Fat32ConformanceIT.assertFsckClean(part);
    }

    @Test
    void symlinksToRegularFilesBecomeCopiesUnderCopyTargetAndOthersAreSkipped() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("links", "1.0", a -> {
            a.file("lib/libx.so.1.2", Fat32ConformanceIT.bytes(20_000, 3));
            a.symlink("lib/libx.so.1", "libx.so.1.2").symlink("lib/libx.so", "libx.so.1");   // a chain
            a.symlink("usr/lib", "../lib").symlink("abs", "/lib/libx.so");                    // a dir, absolute
            a.symlink("viadir", "usr/lib/libx.so.1.2");                                       // through a dir link
            a.symlink("dangling", "nowhere").symlink("dirlink", "lib");
        });
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(128L << 20)
                .symlinkPolicy(DiskSpec.SymlinkPolicy.COPY_TARGET).build(), temp.resolve("gen"));
        assertEquals(3, disk.warnings().size(), disk.warnings().toString());
        assertTrue(disk.warnings().get(2).startsWith("skipped symlink /usr/lib (links@1.0) -> ../lib: its target is "
                + "not a regular file"), disk.warnings().get(2));
        assertTrue(disk.warnings().get(0).startsWith("skipped symlink /dangling (links@1.0) -> nowhere"));
        Path raw = fx.materialize(disk, temp.resolve("raw"));
        Path part = FatFixture.partition(disk, raw, temp.resolve("part"));
        Fat32ConformanceIT.assertFsckClean(part);
        String lib = fx.expected.get("lib/libx.so.1.2");
        Map<String, String> expected = new TreeMap<>(fx.expected);
        for (String copy : List.of("lib/libx.so.1", "lib/libx.so", "abs", "viadir")) {
            expected.put(copy, lib);
        }
        Path out = temp.resolve("out");
        Map<String, String> seen = FatFixture.copyOut(part.toString(), out);
        assertEquals(expected, seen);
        assertTrue(Files.isDirectory(out.resolve("usr")), "usr/ holds only a skipped link but stays a directory");
    }

    @Test
    void hardlinkedNamesEachGetTheirOwnClustersMappedToTheSameAppBytes() throws Exception {
        FatFixture fx = new FatFixture(temp);
        fx.app("hl", "1.0", a -> a.file("a/original", Fat32ConformanceIT.bytes(50_000, 9))
                .hardlink("a/second", "a/original").hardlink("b/third", "a/original"));
        SynthesizedDisk disk = fx.synthesize(FatFixture.spec(128L << 20).build(), temp.resolve("gen"));
        Path part = FatFixture.partition(disk, fx.materialize(disk, temp.resolve("raw")), temp.resolve("part"));
        Fat32ConformanceIT.assertFsckClean(part);
        assertEquals(50_000, disk.appBytes(), "the bytes are counted, and stored, once");
        long mapped = disk.regionMap().regions().stream()
                .filter(r -> r.kind() == dev.dcd.synth.RegionMap.Kind.APP_DATA).map(r -> r.vdiskOffset()).distinct()
                .count();
        assertEquals(1, mapped, "all three names map onto one range of the app vdisk");
        assertEquals(fx.expected, FatFixture.copyOut(part.toString(), temp.resolve("out")));
    }
}
