#!/usr/bin/env bash
# Bounded soak of Vouch under backend faults, on loopback only; stops by itself.
#
#   scripts/soak.sh [--minutes 3] [--concurrency 8] [--heap 384m]
#
# One Vouch JVM with two backends: "embedded" (its own cache, the default) and "faulty", a grpc
# backend that reaches the same embedded cache through a fault-injecting TCP proxy (routed by the
# request instance name "faulty"), so that every resilience decorator of the grpc backend is in the
# path. The load driver (dev.vouch.faults.SoakDriver, from the test classes, run on the jar's own
# classpath) seeds actions whose truth it knows, runs the proxy's fault schedule, drives validation
# load and prints requests served, verdict counts, false HITs, p99 latency, and the Vouch JVM's heap
# after a full GC and RSS at start and end. Exit status 1 on any false HIT (or wrong healthy verdict).
#
# Needs a JDK 17 (java and jcmd), curl, Linux (/proc) and bash. Builds the jar and the test classes
# first when they are missing or older than the sources (the Maven wrapper downloads what it needs
# on a fresh clone). Leaves the Vouch log in a temporary directory and says where.
set -euo pipefail

minutes=3
concurrency=8
heap=384m
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --heap) heap="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || (( minutes < 1 || minutes > 60 )); then
  echo "--minutes must be 1..60" >&2; exit 2
fi

for tool in java jcmd curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "soak: needs $tool on the PATH (java and jcmd come with a JDK 17)" >&2; exit 2; }
done
[[ -d /proc/self ]] || { echo "soak: needs Linux: the driver reads the Vouch JVM's RSS from /proc" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
jar="$root/service/target/vouch.jar"
test_classes="$root/service/target/test-classes"
stale() {
  [[ ! -f "$jar" || ! -f "$test_classes/dev/vouch/faults/SoakDriver.class" ]] && return 0
  [[ -n "$(find "$root/pom.xml" "$root/proto/pom.xml" "$root/service/pom.xml" "$root/proto/src" "$root/service/src" \
      -newer "$jar" -type f -print -quit)" ]]
}
if stale; then
  echo "building the jar and test classes (tests skipped; a fresh clone downloads Maven and the dependencies first)..."
  (cd "$root" && ./mvnw -q -B -pl service -am package -DskipTests)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/vouch-soak-XXXXXX")"
# a loopback port nothing answers on and not in $taken; random, so parallel soaks rarely collide
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if [[ " $taken " != *" $port "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "soak: no free loopback port found" >&2
  return 1
}
taken=""
http_port=$(free_port); taken="$taken $http_port"
grpc_port=$(free_port); taken="$taken $grpc_port"
proxy_port=$(free_port)

vouch_pid=""
cleanup() {
  if [[ -n "$vouch_pid" ]] && kill -0 "$vouch_pid" 2>/dev/null; then
    kill "$vouch_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$vouch_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$vouch_pid" 2>/dev/null || true
  fi
  # the seeded cache is only for this run; the log stays for reading
  rm -rf "$work/data"
}
trap cleanup EXIT

# the embedded front is the faulty backend's remote cache, seen through the proxy: a plain cache
# (vouch.front.check=NONE) that serves incomplete entries, so that the soak's PARTIAL verdicts exist
echo "soak: ${minutes} min, ${concurrency} clients; Vouch http :$http_port grpc :$grpc_port, proxy :$proxy_port; work dir $work"
java -Xmx"$heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -jar "$jar" \
  --server.address=127.0.0.1 --server.port="$http_port" --vouch.grpc.port="$grpc_port" \
  --vouch.data-dir="$work/data" \
  --vouch.backends[0].name=embedded --vouch.backends[0].type=embedded \
  --vouch.backends[1].name=faulty --vouch.backends[1].type=grpc \
  --vouch.backends[1].target="grpc://127.0.0.1:$proxy_port" \
  --vouch.backends[1].call-timeout=2s \
  --vouch.routes[0].instance-pattern=faulty --vouch.routes[0].backend=faulty \
  --vouch.default-backend=embedded \
  --vouch.front.check=NONE \
  >"$work/vouch.log" 2>&1 &
vouch_pid=$!

for _ in $(seq 1 360); do
  if curl -fsS "http://127.0.0.1:$http_port/actuator/health/readiness" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$vouch_pid" 2>/dev/null; then echo "Vouch did not start:"; tail -40 "$work/vouch.log"; exit 1; fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$http_port/actuator/health/readiness" >/dev/null || { echo "Vouch not ready"; exit 1; }
echo "Vouch ready (pid $vouch_pid)"

set +e
java -Xmx256m -cp "$jar" \
  -Dloader.path="$test_classes" -Dloader.main=dev.vouch.faults.SoakDriver \
  org.springframework.boot.loader.launch.PropertiesLauncher \
  --http "$http_port" --grpc "$grpc_port" --proxy-port "$proxy_port" --instance faulty \
  --data-dir "$work/data" --seconds $((minutes * 60)) --concurrency "$concurrency" --pid "$vouch_pid"
status=$?
set -e
echo "Vouch log: $work/vouch.log ($(grep -c ' ERROR ' "$work/vouch.log" || true) ERROR lines)"
exit $status
