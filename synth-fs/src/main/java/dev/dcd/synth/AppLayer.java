package dev.dcd.synth;

import dev.dcd.vdisk.ContentId;
import dev.dcd.vdisk.Manifest;

/**
 * One app as the synthesizer sees it: its manifest and the vdisk holding its bytes.
 *
 * @param priority when two apps provide the same path, the higher priority wins; equal priorities conflict
 */
public record AppLayer(String name, String version, ContentId contentId, Manifest manifest, int priority) {
    public String label() {
        return name + "@" + version;
    }
}
