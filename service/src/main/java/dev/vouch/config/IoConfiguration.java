package dev.vouch.config;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/** The one bounded scheduler for blocking work (disk I/O of the embedded store). */
@Configuration(proxyBeanMethods = false)
public class IoConfiguration {

    @Bean(destroyMethod = "dispose")
    public Scheduler ioScheduler(VouchProperties properties) {
        return Schedulers.newBoundedElastic(properties.io().threads(), properties.io().queuedTasks(), "vouch-io");
    }
}
