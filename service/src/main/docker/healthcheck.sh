#!/bin/bash
# The image's HEALTHCHECK: readiness over plain HTTP with bash's /dev/tcp, since a JRE base image
# need not have curl or wget. Healthy only while /actuator/health/readiness answers 200, so an
# instance that is draining on shutdown reports unhealthy.
set -eu
exec 3<>"/dev/tcp/127.0.0.1/${SERVER_PORT:-8080}"
printf 'GET /actuator/health/readiness HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
read -r -t 4 status <&3
[[ $status == "HTTP/1.1 200 "* ]]
