#!/usr/bin/env bash
# cassandra.sh start|stop|status|wait — a real single-node Apache Cassandra 5.0 for
# development and tests, without Docker and without a distribution tarball.
#
# Why this shape: Debian has no Cassandra package and Docker cannot run on our CI
# machines, but Maven Central carries cassandra-all and every runtime dependency, so
# we assemble the classpath with Maven (as cassandra-unit does) and start
# CassandraDaemon with the JDK 17 flags of Cassandra 5.0's conf/jvm17-server.options.
#
# Environment:
#   CASSANDRA_VERSION  cassandra-all version (default 5.0.8)
#   CASSANDRA_HOME     jar cache, reused between runs (default ~/.cache/mediaedge/cassandra-$VERSION)
#   CASSANDRA_DIR      node state: data, commitlog, logs (default ~/.cache/mediaedge/cassandra-node)
#   CASSANDRA_HEAP     JVM heap (default 1G)
#   CASSANDRA_WAIT     seconds to wait for CQL (default 240)
set -euo pipefail

VERSION="${CASSANDRA_VERSION:-5.0.8}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mediaedge"
HOME_DIR="${CASSANDRA_HOME:-$CACHE/cassandra-$VERSION}"
NODE_DIR="${CASSANDRA_DIR:-$CACHE/cassandra-node}"
HEAP="${CASSANDRA_HEAP:-1G}"
WAIT="${CASSANDRA_WAIT:-240}"
HOST=127.0.0.1
PORT=9042
PIDFILE="$NODE_DIR/cassandra.pid"

log() { echo "cassandra.sh: $*" >&2; }

# port_open reports whether something accepts TCP on HOST:PORT.
port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# cql_ready sends a CQL OPTIONS frame and checks for a SUPPORTED reply. A listening
# socket alone is not enough: the native transport opens before the node can serve
# queries, so we also require the node's log line that says it is listening for CQL
# clients, which Cassandra writes only after startup completes.
cql_ready() {
  port_open || return 1
  python3 - "$HOST" "$PORT" <<'PY' 2>/dev/null
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
# protocol v4 request, stream 0, opcode OPTIONS (0x05), empty body
s.sendall(struct.pack(">BBhBi", 0x04, 0, 0, 0x05, 0))
hdr = s.recv(9)
sys.exit(0 if len(hdr) == 9 and hdr[4] == 0x06 else 1)
PY
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

fetch_jars() {
  if [[ -f "$HOME_DIR/lib/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: run scripts/install-deps.sh"; exit 1; }
  log "fetching cassandra-all $VERSION and its runtime dependencies from Maven Central"
  local work; work=$(mktemp -d)
  mkdir -p "$HOME_DIR/lib"
  cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mediaedge</groupId><artifactId>cassandra-node</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  (cd "$work" && mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$HOME_DIR/lib")
  rm -rf "$work"
  touch "$HOME_DIR/lib/.complete"
}

write_config() {
  mkdir -p "$NODE_DIR"/{data,commitlog,hints,saved_caches,cdc_raw,logs,conf}
  cat > "$NODE_DIR/conf/cassandra.yaml" <<YAML
cluster_name: mediaedge-dev
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$HOST:7000"
listen_address: $HOST
rpc_address: $HOST
storage_port: 7000
native_transport_port: $PORT
start_native_transport: true
native_transport_max_frame_size: 32MiB
data_file_directories: [$NODE_DIR/data]
commitlog_directory: $NODE_DIR/commitlog
hints_directory: $NODE_DIR/hints
saved_caches_directory: $NODE_DIR/saved_caches
cdc_raw_directory: $NODE_DIR/cdc_raw
memtable_heap_space: 256MiB
memtable_offheap_space: 256MiB
concurrent_compactors: 1
auto_snapshot: false
write_request_timeout: 10000ms
read_request_timeout: 10000ms
YAML
  cat > "$NODE_DIR/conf/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$NODE_DIR/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
}

java_bin() {
  # Cassandra 5.0 runs on JDK 11 or 17; prefer 17 where several are installed.
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/temurin-17*/bin/java; do
    [[ -x "$j" ]] && { echo "$j"; return; }
  done
  command -v java
}

start() {
  if cql_ready; then log "a node already answers CQL on $HOST:$PORT; reusing it"; return 0; fi
  if pid=$(running_pid); then
    log "node $pid is starting; waiting"
    await; return
  fi
  fetch_jars
  write_config
  local jamm; jamm=$(ls "$HOME_DIR"/lib/jamm-*.jar | head -1)
  local java; java=$(java_bin)
  log "starting Cassandra $VERSION ($java), logs in $NODE_DIR/logs"
  nohup "$java" -Xms"$HEAP" -Xmx"$HEAP" -Xss256k -XX:+UseG1GC -XX:+HeapDumpOnOutOfMemoryError \
    -XX:HeapDumpPath="$NODE_DIR/logs" \
    -javaagent:"$jamm" -Djdk.attach.allowAttachSelf=true \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.base/java.nio=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11 \
    -Djava.net.preferIPv4Stack=true \
    -Dcassandra-foreground=yes \
    -Dcassandra.config="file://$NODE_DIR/conf/cassandra.yaml" \
    -Dlogback.configurationFile="$NODE_DIR/conf/logback.xml" \
    -Dcassandra.logdir="$NODE_DIR/logs" \
    -Dcassandra.storagedir="$NODE_DIR" \
    -Dcassandra.jmx.local.port=7199 \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=0 \
    -Dcassandra.unsafesystem=true \
    -cp "$NODE_DIR/conf:$HOME_DIR/lib/*" org.apache.cassandra.service.CassandraDaemon \
    > "$NODE_DIR/logs/stdout.log" 2>&1 &
  echo $! > "$PIDFILE"
  await
}

await() {
  local deadline=$((SECONDS + WAIT))
  while (( SECONDS < deadline )); do
    if cql_ready; then log "ready on $HOST:$PORT after ${SECONDS}s"; return 0; fi
    if ! running_pid >/dev/null && ! port_open; then
      log "node exited during start; last log lines:"; tail -40 "$NODE_DIR/logs/stdout.log" >&2 || true
      exit 1
    fi
    sleep 2
  done
  log "no CQL answer after ${WAIT}s; last log lines:"; tail -40 "$NODE_DIR/logs/system.log" >&2 || true
  exit 1
}

stop() {
  if pid=$(running_pid); then
    log "stopping $pid"; kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
  else
    log "not running"
  fi
}

status() {
  if cql_ready; then echo "running: CQL answers on $HOST:$PORT"; else echo "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  wait) await ;;
  reset) stop; rm -rf "$NODE_DIR" ;;
  *) echo "usage: $0 start|stop|status|wait|reset" >&2; exit 2 ;;
esac
