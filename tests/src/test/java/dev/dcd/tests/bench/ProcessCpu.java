package dev.dcd.tests.bench;

import dev.dcd.tests.s3.S3ProxyServer;

/** CPU time used so far by this JVM and by the S3Proxy process, to show where the time of a pass goes. */
record ProcessCpu(long clientNanos, long serverNanos) {
    static ProcessCpu now(S3ProxyServer server) {
        long client = ((com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
        long serverCpu = ProcessHandle.of(server.pid()).flatMap(p -> p.info().totalCpuDuration())
                .map(java.time.Duration::toNanos).orElse(-1L);
        return new ProcessCpu(client, serverCpu);
    }

    double client(ProcessCpu before) {
        return (clientNanos - before.clientNanos) / 1e9;
    }

    double server(ProcessCpu before) {
        return (serverNanos - before.serverNanos) / 1e9;
    }
}
