#!/usr/bin/env bash
# cassandra.sh start|stop|status|wait|reset — a real single-node Apache Cassandra 5.0
# for development and tests, without Docker and without a distribution tarball.
# cassandra.sh cluster start [N]|stop|status|pid I|reset — an N-node cluster (default 3)
# on 127.0.0.2 .. 127.0.0.(N+1), beside the single node, for node-loss tests.
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
#   CASSANDRA_CLUSTER_DIR   cluster state, one folder per node (default ~/.cache/mediaedge/cassandra-cluster)
#   CASSANDRA_CLUSTER_HEAP  JVM heap of each cluster node (default 512M)
#
# The cluster is laid out as Apache's ccm lays one out: node I listens on
# 127.0.0.(I+1) (Linux routes all of 127/8 to lo, so every node keeps the
# standard ports 7000 and 9042) with its own data, commitlog, saved_caches
# and hints folders and its own JMX port (7100+100*I); node1 is the seed; nodes
# start one at a time, each awaited before the next (concurrent joins race for
# tokens), and the cluster counts as up when every node answers CQL, lists
# every other node in system.peers and last logged each of them as UP. The
# single node on 127.0.0.1 is a separate cluster (another cluster_name) and
# keeps working beside it.
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
port_open() { (exec 3<>"/dev/tcp/${1:-$HOST}/${2:-$PORT}") 2>/dev/null; }

# cql_ready sends a CQL OPTIONS frame and checks for a SUPPORTED reply. A listening
# socket alone is not enough: the native transport opens before the node can serve
# queries, so we also require the node's log line that says it is listening for CQL
# clients, which Cassandra writes only after startup completes.
cql_ready() {
  port_open "${1:-$HOST}" "${2:-$PORT}" || return 1
  python3 - "${1:-$HOST}" "${2:-$PORT}" <<'PY' 2>/dev/null
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

# write_logback DIR: Cassandra logs to DIR/logs/system.log only.
write_logback() {
  cat > "$1/conf/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$1/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
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
  write_logback "$NODE_DIR"
}

java_bin() {
  # Cassandra 5.0 runs on JDK 11 or 17; prefer 17 where several are installed.
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/temurin-17*/bin/java; do
    [[ -x "$j" ]] && { echo "$j"; return; }
  done
  command -v java
}

# launch_jvm DIR HEAP JMX_PORT RING_DELAY_MS starts CassandraDaemon in the
# background with DIR/conf and writes its pid to DIR/cassandra.pid.
launch_jvm() {
  local dir=$1 heap=$2 jmx=$3 ring_delay=$4 unsafe=${5:-true}
  local jamm; jamm=$(ls "$HOME_DIR"/lib/jamm-*.jar | head -1)
  local java; java=$(java_bin)
  nohup "$java" -Xms"$heap" -Xmx"$heap" -Xss256k -XX:+UseG1GC -XX:+HeapDumpOnOutOfMemoryError \
    -XX:HeapDumpPath="$dir/logs" \
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
    -Dcassandra.config="file://$dir/conf/cassandra.yaml" \
    -Dlogback.configurationFile="$dir/conf/logback.xml" \
    -Dcassandra.logdir="$dir/logs" \
    -Dcassandra.storagedir="$dir" \
    -Dcassandra.jmx.local.port="$jmx" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms="$ring_delay" \
    -Dcassandra.unsafesystem="$unsafe" \
    -cp "$dir/conf:$HOME_DIR/lib/*" org.apache.cassandra.service.CassandraDaemon \
    > "$dir/logs/stdout.log" 2>&1 &
  echo $! > "$dir/cassandra.pid"
}

start() {
  if cql_ready; then log "a node already answers CQL on $HOST:$PORT; reusing it"; return 0; fi
  if pid=$(running_pid); then
    log "node $pid is starting; waiting"
    await; return
  fi
  fetch_jars
  write_config
  log "starting Cassandra $VERSION ($(java_bin)), logs in $NODE_DIR/logs"
  launch_jvm "$NODE_DIR" "$HEAP" 7199 0
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

# ---- the cluster ---------------------------------------------------------------

CLUSTER_DIR="${CASSANDRA_CLUSTER_DIR:-$CACHE/cassandra-cluster}"
CLUSTER_HEAP="${CASSANDRA_CLUSTER_HEAP:-512M}"

node_ip() { echo "127.0.0.$(($1 + 1))"; }
node_dir() { echo "$CLUSTER_DIR/node$1"; }
node_jmx() { echo $((7100 + 100 * $1)); }

node_pid() {
  local f; f="$(node_dir "$1")/cassandra.pid"
  [[ -f "$f" ]] || return 1
  local pid; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# cluster_size is the node count recorded by the last `cluster start N`.
cluster_size() { cat "$CLUSTER_DIR/size" 2>/dev/null || echo 3; }

write_node_config() {
  local i=$1 ip dir
  ip=$(node_ip "$i"); dir=$(node_dir "$i")
  mkdir -p "$dir"/{data,commitlog,hints,saved_caches,cdc_raw,logs,conf}
  # Small and polite: the cluster shares two cores with the tests. Timeouts are
  # Cassandra's defaults (the driver's client timeout, 12 s, exceeds them so a
  # server timeout, which says what happened, arrives first).
  cat > "$dir/conf/cassandra.yaml" <<YAML
cluster_name: mediaedge-cluster
num_tokens: 16
allocate_tokens_for_local_replication_factor: 3
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$(node_ip 1):7000"
listen_address: $ip
rpc_address: $ip
storage_port: 7000
native_transport_port: $PORT
start_native_transport: true
native_transport_max_frame_size: 32MiB
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
hints_directory: $dir/hints
saved_caches_directory: $dir/saved_caches
cdc_raw_directory: $dir/cdc_raw
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
concurrent_compactors: 1
auto_snapshot: false
read_request_timeout: 5000ms
range_request_timeout: 10000ms
write_request_timeout: 2000ms
counter_write_request_timeout: 5000ms
cas_contention_timeout: 1000ms
request_timeout: 10000ms
YAML
  write_logback "$dir"
}

# peer_count I prints how many rows node I's system.peers holds, over a
# minimal CQL v4 client (STARTUP, then one QUERY at ONE; counts the rows).
peer_count() {
  python3 - "$(node_ip "$1")" "$PORT" <<'PY' 2>/dev/null
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
def send(op, body):
    s.sendall(struct.pack(">BBhBi", 0x04, 0, 1, op, len(body)) + body)
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
def reply():
    _, _, _, op, n = struct.unpack(">BBhBi", recv(9))
    return op, recv(n)
def sstr(v):
    v = v.encode(); return struct.pack(">H", len(v)) + v
send(0x01, struct.pack(">H", 1) + sstr("CQL_VERSION") + sstr("3.0.0"))
if reply()[0] != 0x02: sys.exit(1)                       # READY
q = b"SELECT peer FROM system.peers"
send(0x07, struct.pack(">i", len(q)) + q + struct.pack(">HB", 0x0001, 0))
op, b = reply()
if op != 0x08 or struct.unpack(">i", b[:4])[0] != 2: sys.exit(1)   # RESULT, Rows
flags, ncols = struct.unpack(">ii", b[4:12]); p = 12
def skip_str(p): return p + 2 + struct.unpack(">H", b[p:p+2])[0]
if flags & 0x0002:                                       # paging state
    n = struct.unpack(">i", b[p:p+4])[0]; p += 4 + max(n, 0)
if not flags & 0x0004:                                   # column specs
    if flags & 0x0001: p = skip_str(skip_str(p))
    for _ in range(ncols):
        if not flags & 0x0001: p = skip_str(skip_str(p))
        p = skip_str(p)
        p += 2                                           # inet: a simple type
print(struct.unpack(">i", b[p:p+4])[0])
PY
}

# sees_all_up I N: node I last logged each other node as UP. The log is
# rotated at each start, so a line from before a restart never counts.
sees_all_up() {
  local i=$1 n=$2 j log
  log="$(node_dir "$i")/logs/system.log"
  for ((j = 1; j <= n; j++)); do
    (( j == i )) && continue
    local last
    last=$(grep -E "/$(node_ip "$j"):7000 .*now (UP|DOWN)" "$log" 2>/dev/null | tail -1)
    [[ "$last" == *"now UP"* ]] || return 1
  done
}

# node_up I N: node I answers CQL, lists the other N-1 nodes and sees them UP.
node_up() {
  cql_ready "$(node_ip "$1")" "$PORT" || return 1
  [[ "$(peer_count "$1")" == "$(($2 - 1))" ]] || return 1
  sees_all_up "$1" "$2"
}

start_node() {
  local i=$1 dir; dir=$(node_dir "$i")
  write_node_config "$i"
  [[ -f "$dir/logs/system.log" ]] && mv "$dir/logs/system.log" "$dir/logs/system.log.1"
  log "starting node$i on $(node_ip "$i") (JMX $(node_jmx "$i"), heap $CLUSTER_HEAP), logs in $dir/logs"
  # The ring delay bounds the shadow gossip round in which a restarted node
  # asks the seed for the ring; 0 (fine for the lone node) fails it at once.
  # And no unsafesystem: the cluster's nodes get killed, and a node that
  # loses its last schema change to kill -9 comes back disagreeing
  # (INCOMPATIBLE_SCHEMA) until it pulls the schema again.
  launch_jvm "$dir" "$CLUSTER_HEAP" "$(node_jmx "$i")" 10000 false
}

# await_node I waits for CQL on node I.
await_node() {
  local i=$1 ip dir deadline=$((SECONDS + WAIT))
  ip=$(node_ip "$i"); dir=$(node_dir "$i")
  while (( SECONDS < deadline )); do
    if cql_ready "$ip" "$PORT"; then log "node$i ready on $ip:$PORT after ${SECONDS}s"; return 0; fi
    if ! node_pid "$i" >/dev/null; then
      log "node$i exited during start; last log lines:"; tail -n 40 "$dir/logs/stdout.log" "$dir/logs/system.log" >&2 || true
      exit 1
    fi
    sleep 2
  done
  log "node$i: no CQL answer after ${WAIT}s; last log lines:"; tail -40 "$dir/logs/system.log" >&2 || true
  exit 1
}

# await_cluster N waits until every node is up and sees the others up.
await_cluster() {
  local n=$1 i deadline=$((SECONDS + WAIT))
  while (( SECONDS < deadline )); do
    local up=0
    for ((i = 1; i <= n; i++)); do node_up "$i" "$n" && up=$((up + 1)); done
    if (( up == n )); then log "nodes up = $n after ${SECONDS}s"; return 0; fi
    sleep 2
  done
  log "cluster: nodes up = $up of $n after ${WAIT}s"; exit 1
}

cluster_start() {
  local n=${1:-3} i
  [[ "$n" =~ ^[1-9]$ ]] || { log "cluster start: N must be 1..9"; exit 2; }
  fetch_jars
  mkdir -p "$CLUSTER_DIR"; echo "$n" > "$CLUSTER_DIR/size"
  # One node at a time, as ccm does: a node is awaited before the next starts.
  for ((i = 1; i <= n; i++)); do
    local ip; ip=$(node_ip "$i")
    if cql_ready "$ip" "$PORT"; then continue; fi
    if pid=$(node_pid "$i"); then
      kill -CONT "$pid" 2>/dev/null || true # a test may have left it stopped
      log "node$i ($pid) is starting; waiting"
    else
      start_node "$i"
    fi
    await_node "$i"
  done
  await_cluster "$n"
}

cluster_stop() {
  local n i pids=()
  n=$(cluster_size)
  for ((i = n; i >= 1; i--)); do
    if pid=$(node_pid "$i"); then
      log "stopping node$i ($pid)"
      kill "$pid"; kill -CONT "$pid" 2>/dev/null || true # a stopped JVM must run to exit
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for ((i = 1; i <= n; i++)); do rm -f "$(node_dir "$i")/cassandra.pid"; done
  (( ${#pids[@]} > 0 )) || log "cluster not running"
}

cluster_status() {
  local n i up=0
  n=$(cluster_size)
  for ((i = 1; i <= n; i++)); do
    local ip state pid
    ip=$(node_ip "$i")
    pid=$(node_pid "$i") || pid=-
    if node_up "$i" "$n"; then state=up; up=$((up + 1))
    elif cql_ready "$ip" "$PORT"; then state=joining
    elif [[ "$pid" != - ]]; then state=starting
    else state=down; fi
    echo "node$i $ip pid $pid jmx $(node_jmx "$i") $state"
  done
  echo "nodes up = $up of $n"
  (( up == n ))
}

cluster() {
  case "${1:-}" in
    start) cluster_start "${2:-3}" ;;
    stop) cluster_stop ;;
    status) cluster_status ;;
    pid) node_pid "${2:?cluster pid I}" || { log "node${2} is not running"; exit 1; } ;;
    reset) cluster_stop; rm -rf "$CLUSTER_DIR" ;;
    *) echo "usage: $0 cluster start [N]|stop|status|pid I|reset" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  wait) await ;;
  reset) stop; rm -rf "$NODE_DIR" ;;
  cluster) shift; cluster "$@" ;;
  *) echo "usage: $0 start|stop|status|wait|reset|cluster ..." >&2; exit 2 ;;
esac
