package dev.vouch.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ProcStatsTest {

    @Test
    void cpuTicksAreUtimePlusStimeEvenWithSpacesAndParenthesesInTheName() {
        // a real line of /proc/<pid>/stat with the command name changed to contain ") ("
        String stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 51713 0 12 0 1234 567 0 0 20 0 45 0 "
                + "97340 4012310528 101234 18446744073709551615 1 1 0 0 0 0 0 4096 1260 0 0 0 17 1 0 0 0 0 0";
        assertThat(ProcStats.cpuTicks(stat)).isEqualTo(1234 + 567);
    }

    @Test
    void rssFromStatus() {
        String status = """
                Name:\tjava
                Umask:\t0022
                State:\tS (sleeping)
                VmPeak:\t 4012310 kB
                VmSize:\t 3912310 kB
                VmHWM:\t  612000 kB
                VmRSS:\t  404936 kB
                RssAnon:\t  380000 kB
                Threads:\t45
                """;
        assertThat(ProcStats.rssBytes(status)).isEqualTo(404_936L * 1024);
        assertThat(ProcStats.rssBytes("Name:\tzombie\nState:\tZ (zombie)\n")).isEqualTo(-1);
    }

    @Test
    void ownProcessIsReadable() {
        long pid = ProcessHandle.current().pid();
        assertThat(ProcStats.cpuTicks(pid)).isPositive();
        assertThat(ProcStats.rssBytes(pid)).isGreaterThan(1_000_000);
    }

    @Test
    void prometheusSumsByLabel() {
        Prometheus p = Prometheus.parse("""
                # HELP vouch_backend_call_seconds Calls to a backend
                # TYPE vouch_backend_call_seconds histogram
                vouch_backend_call_seconds_count{backend="embedded",operation="find_missing",outcome="success"} 33.0
                vouch_backend_call_seconds_count{backend="embedded",operation="get_action_result",outcome="success"} 3000.0
                vouch_backend_call_seconds_count{backend="embedded",operation="get_action_result",outcome="absent"} 294.0
                jvm_memory_used_bytes{area="heap",id="G1 Eden Space"} 1.2E7
                jvm_memory_used_bytes{area="heap",id="G1 Old Gen"} 3.0E6
                jvm_memory_used_bytes{area="nonheap",id="Metaspace"} 9.9E7
                jvm_gc_live_data_size_bytes 4567.0
                """);
        assertThat(p.sumBy("vouch_backend_call_seconds_count", "operation"))
                .containsExactlyEntriesOf(new java.util.TreeMap<>(java.util.Map.of("find_missing", 33.0,
                        "get_action_result", 3294.0)));
        assertThat(p.sum("jvm_memory_used_bytes", "area", "heap")).isEqualTo(1.5e7);
        assertThat(p.sum("jvm_gc_live_data_size_bytes")).isEqualTo(4567.0);
        assertThat(p.sum("no_such_metric")).isNaN();
    }
}
