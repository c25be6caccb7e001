# Vouch's container image.
#
#   docker build -t vouch .                                   # builds the jar with the Maven wrapper
#   ./mvnw -DskipTests package && docker build --build-arg JAR=prebuilt -t vouch .   # takes service/target/vouch.jar
#   docker run -p 8080:8080 -p 9092:9092 -v vouch-data:/var/lib/vouch vouch
#
# Build arguments:
#   BASE     the runtime image: any JRE 17+ with /bin/sh and bash (bash runs the health check)
#   BUILDER  the image that runs the Maven wrapper: a JDK 17+
#   JAR      "build" (compile in the image) or "prebuilt" (copy service/target/vouch.jar from the context)
ARG BASE=eclipse-temurin:17-jre
ARG BUILDER=eclipse-temurin:17-jdk
ARG JAR=build

FROM ${BUILDER} AS jar-build
WORKDIR /src
COPY .mvn/ .mvn/
COPY mvnw pom.xml ./
COPY proto/ proto/
COPY service/pom.xml service/
COPY service/src/ service/src/
# the cache mount keeps ~/.m2 between builds, so only changed dependencies are downloaded again
RUN --mount=type=cache,target=/root/.m2 ./mvnw -B -ntp -DskipTests package && cp service/target/vouch.jar /vouch.jar

FROM scratch AS jar-prebuilt
COPY service/target/vouch.jar /vouch.jar

# Only the stage JAR names is built (BuildKit and buildah skip stages nothing needs). Buildah
# before 1.29 (Debian 12's podman 4.3) ignores JAR's default here: give --build-arg JAR=build there.
FROM jar-${JAR} AS jar

# Spring Boot's layers (dependencies, loader, snapshot dependencies, application) become image
# layers in that order: a rebuild that changes only Vouch's classes reuses the 60 MB below them.
FROM ${BASE} AS layers
WORKDIR /layers
COPY --from=jar /vouch.jar vouch.jar
RUN java -Djarmode=tools -jar vouch.jar extract --layers --launcher --destination extracted

FROM ${BASE}
# A numeric user, so that Kubernetes' runAsNonRoot can verify it; written into /etc/passwd
# directly because base images differ in their user tools (useradd, adduser or none).
RUN echo 'vouch:x:10001:10001:Vouch:/var/lib/vouch:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'vouch:x:10001:' >> /etc/group \
    && mkdir -p /var/lib/vouch \
    && chown 10001:10001 /var/lib/vouch
WORKDIR /opt/vouch
COPY --from=layers /layers/extracted/dependencies/ ./
COPY --from=layers /layers/extracted/spring-boot-loader/ ./
COPY --from=layers /layers/extracted/snapshot-dependencies/ ./
COPY --from=layers /layers/extracted/application/ ./
COPY service/src/main/docker/healthcheck.sh /opt/vouch/healthcheck.sh

# The embedded cache's data: a volume, so it outlives the container.
ENV VOUCH_DATA_DIR=/var/lib/vouch
VOLUME /var/lib/vouch

# Heap from the container's memory limit, leaving a quarter for metaspace, thread stacks and
# Netty's direct buffers; an OutOfMemoryError ends the process so the orchestrator restarts it
# instead of leaving a half-working JVM serving verdicts. Setting JAVA_OPTS replaces both.
ENV JAVA_OPTS="-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError"

# HTTP (REST, actuator, the Bazel HTTP cache protocol) and gRPC (REAPI, vouch.v1). Set other
# ports through SERVER_PORT and VOUCH_GRPC_PORT: the health check reads SERVER_PORT.
EXPOSE 8080 9092
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/opt/vouch/healthcheck.sh"]

USER 10001:10001
# exec: java is PID 1 and gets SIGTERM itself, so Vouch's graceful shutdown (readiness drain,
# in-flight requests finish) runs when the container is stopped. Arguments go to Spring Boot.
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS org.springframework.boot.loader.launch.JarLauncher \"$@\"", "vouch"]
