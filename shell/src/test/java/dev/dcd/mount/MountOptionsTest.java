package dev.dcd.mount;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MountOptionsTest {

    @Test
    void defaultsAreBigRequestsAndOnlyTheOwnerAndRootMayEnter() {
        List<String> args = MountOptions.builder("web1").build().fuseArgs(0, false);
        assertEquals("-o", args.get(0));
        List<String> opts = List.of(args.get(1).split(","));
        assertTrue(opts.containsAll(List.of("fsname=dcd:web1", "subtype=dcd", "max_read=131072", "big_writes",
                "use_ino", "default_permissions")), opts.toString());
        assertFalse(opts.contains("allow_other"));
        assertFalse(opts.contains("allow_root"));
        assertFalse(args.contains("-s"));
    }

    @Test
    void allowOtherIsOnlyPassedWhenAskedFor() {
        assertTrue(MountOptions.builder("v").allowOther(true).build().fuseArgs(0, false).get(1).contains("allow_other"));
        String user = MountOptions.builder("v").build().fuseArgs(1000, true).get(1);
        assertTrue(user.contains("allow_root") && !user.contains("allow_other"), user);
    }

    @Test
    void aCommaInTheVmNameCannotInjectAnOption() {
        String opts = MountOptions.builder("a,allow_other").build().fuseArgs(0, false).get(1);
        assertFalse(List.of(opts.split(",")).contains("allow_other"), opts);
    }

    @Test
    void theLoopRunsOnLocalThreadsByDefaultAndTheCountIsBounded() {
        assertEquals(MountOptions.LOCAL_THREADS, MountOptions.builder("v").build().threads());
        assertEquals(1, MountOptions.builder("v").threads(1).build().threads());
        assertThrows(IllegalArgumentException.class, () -> MountOptions.builder("v").threads(0));
        assertThrows(IllegalArgumentException.class, () -> MountOptions.builder("v").threads(MountOptions.MAX_THREADS + 1));
    }

    @Test
    void libfuseIsNeverToldToRunItsOwnLoopSingleThreaded() {
        assertFalse(MountOptions.builder("v").threads(1).build().fuseArgs(0, false).contains("-s"));
    }

    @Test
    void mountinfoLinesAreParsedWithOctalEscapes() {
        MountTable.Entry e = MountTable.parse(
                "36 35 0:45 / /tmp/my\\040mnt rw,nosuid,nodev shared:1 - fuse.dcd dcd:web1 rw,user_id=0,group_id=0");
        assertEquals(Path.of("/tmp/my mnt"), e.mountpoint());
        assertEquals("fuse.dcd", e.fsType());
        assertEquals("dcd:web1", e.source());
        assertTrue(e.isFuse());
    }
}
