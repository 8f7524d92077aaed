package dev.dcd.synth;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VmdkDescriptorTest {

    @Test
    void anEightGibDiskHasTheExpectedExtentAndGeometry() {
        VmdkDescriptor d = VmdkDescriptor.monolithicFlat(8L << 30, "web-flat.vmdk", "web/gen-1");
        String text = d.render();
        assertTrue(text.startsWith("# Disk DescriptorFile\nversion=1\nCID=" + d.cid() + "\nparentCID=ffffffff\n"
                + "createType=\"monolithicFlat\"\n"), text);
        assertTrue(text.contains("\nRW 16777216 FLAT \"web-flat.vmdk\" 0\n"), text);
        assertTrue(text.contains("ddb.adapterType = \"lsilogic\"\n"), text);
        assertTrue(text.contains("ddb.geometry.cylinders = \"1044\"\n"), text);
        assertTrue(text.contains("ddb.geometry.heads = \"255\"\n"), text);
        assertTrue(text.contains("ddb.geometry.sectors = \"63\"\n"), text);
    }

    @Test
    void theCidDependsOnlyOnTheSeed() {
        String a = VmdkDescriptor.monolithicFlat(1L << 30, "a-flat.vmdk", "vm/gen-1").cid();
        assertEquals(a, VmdkDescriptor.monolithicFlat(1L << 30, "a-flat.vmdk", "vm/gen-1").cid());
        assertNotEquals(a, VmdkDescriptor.monolithicFlat(1L << 30, "a-flat.vmdk", "vm/gen-2").cid());
        assertEquals(8, a.length());
        assertNotEquals("ffffffff", a);
    }

    @Test
    void hugeDisksCapTheCylinderCount() {
        assertEquals(65535, VmdkDescriptor.monolithicFlat(2L << 40, "x-flat.vmdk", "s").cylinders());
    }

    @Test
    void theFlatNameFollowsTheDescriptorName() {
        assertEquals("disk-flat.vmdk", VmdkDescriptor.flatNameFor("disk.vmdk"));
        assertEquals("disk.img-flat.vmdk", VmdkDescriptor.flatNameFor("disk.img"));
    }

    @Test
    void badSizesAndNamesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> VmdkDescriptor.monolithicFlat(1000, "x", "s"));
        assertThrows(IllegalArgumentException.class, () -> VmdkDescriptor.monolithicFlat(4096, "a\"b", "s"));
        assertThrows(IllegalArgumentException.class, () -> VmdkDescriptor.monolithicFlat(4096, "../x", "s"));
    }
}
