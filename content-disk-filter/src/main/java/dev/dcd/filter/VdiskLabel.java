package dev.dcd.filter;

/** Who a vdisk belongs to, for stats and error messages: the app (name@version) and its backend's name. */
public record VdiskLabel(String app, String backend) {
    public VdiskLabel {
        if (app == null || app.isEmpty() || backend == null || backend.isEmpty()) {
            throw new IllegalArgumentException("a vdisk label needs an app and a backend name");
        }
    }
}
