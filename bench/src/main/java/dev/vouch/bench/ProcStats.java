package dev.vouch.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/** CPU time and resident memory of a process, read from /proc. */
public final class ProcStats {

    private ProcStats() {
    }

    /**
     * utime + stime in clock ticks from the text of {@code /proc/<pid>/stat}. The command name
     * (field 2) is in parentheses and may hold spaces, so fields are counted after the last ')'.
     */
    static long cpuTicks(String stat) {
        int close = stat.lastIndexOf(')');
        if (close < 0) {
            throw new IllegalArgumentException("not a /proc/<pid>/stat line: " + stat);
        }
        String[] f = stat.substring(close + 1).trim().split("\\s+");
        // after ')': field 3 (state) is f[0], so utime (14) is f[11] and stime (15) f[12]
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** VmRSS in bytes from the text of {@code /proc/<pid>/status}; -1 when absent (a zombie). */
    static long rssBytes(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("VmRSS:")) {
                String[] f = line.substring(6).trim().split("\\s+");
                long v = Long.parseLong(f[0]);
                return f.length > 1 && f[1].equalsIgnoreCase("kB") ? v * 1024 : v;
            }
        }
        return -1;
    }

    public static long cpuTicks(long pid) {
        try {
            return cpuTicks(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
        } catch (IOException e) {
            return -1;
        }
    }

    public static long rssBytes(long pid) {
        try {
            return rssBytes(Files.readString(Path.of("/proc", Long.toString(pid), "status")));
        } catch (IOException e) {
            return -1;
        }
    }

    private static final long CLK_TCK = clockTicks();

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            return Long.parseLong(out);
        } catch (IOException | InterruptedException | NumberFormatException e) {
            return 100;
        }
    }

    public static double cpuSeconds(long pid) {
        long t = cpuTicks(pid);
        return t < 0 ? Double.NaN : (double) t / CLK_TCK;
    }

    /** Samples a process's RSS every 100 ms; keeps the maximum since the last {@link #resetMax()}. */
    public static final class RssSampler implements AutoCloseable {
        private final long pid;
        private final AtomicLong max = new AtomicLong();
        private final AtomicLong maxEver = new AtomicLong();
        private final Thread thread;
        private volatile boolean stop;

        public RssSampler(long pid) {
            this.pid = pid;
            this.thread = new Thread(() -> {
                while (!stop) {
                    long rss = rssBytes(pid);
                    max.accumulateAndGet(rss, Math::max);
                    maxEver.accumulateAndGet(rss, Math::max);
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "rss-" + pid);
            thread.setDaemon(true);
            thread.start();
        }

        public void resetMax() {
            max.set(rssBytes(pid));
        }

        public long max() {
            return max.accumulateAndGet(rssBytes(pid), Math::max);
        }

        /** The maximum since the process started being sampled. */
        public long maxEver() {
            return maxEver.get();
        }

        public long current() {
            return rssBytes(pid);
        }

        @Override
        public void close() {
            stop = true;
            thread.interrupt();
        }
    }
}
