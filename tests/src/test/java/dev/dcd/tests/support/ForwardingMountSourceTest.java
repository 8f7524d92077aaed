package dev.dcd.tests.support;

import dev.dcd.mount.MountSource;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ForwardingMountSourceTest {

    /**
     * Every method of the interface, called on a wrapper that overrides nothing, reaches the source beneath: a
     * method added to MountSource with a default would otherwise be answered by that default, not by the source.
     */
    @Test
    void aWrapperThatOverridesNothingPassesEveryCallThrough() throws Exception {
        List<String> reached = new ArrayList<>();
        MountSource beneath = (MountSource) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {MountSource.class}, (proxy, method, args) -> {
                    reached.add(method.getName());
                    return zeroOf(method.getReturnType());
                });
        MountSource wrapper = new ForwardingMountSource(beneath) {
        };
        List<String> called = new ArrayList<>();
        for (Method m : MountSource.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            Object[] args = new Object[m.getParameterCount()];
            for (int i = 0; i < args.length; i++) {
                args[i] = zeroOf(m.getParameterTypes()[i]);
            }
            m.invoke(wrapper, args);
            called.add(m.getName());
        }
        assertEquals(called, reached);
    }

    private static Object zeroOf(Class<?> type) {
        if (type == boolean.class) {
            return false;
        }
        if (type == int.class) {
            return 0;
        }
        if (type == long.class) {
            return 0L;
        }
        return null;
    }
}
