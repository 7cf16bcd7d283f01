#!/usr/bin/env bash
# Real ClickHouse 18.16, Kafka 4.1 (KRaft, one node) and Alertmanager 0.28 on loopback, for
# `make demo`, `make test` and CI. No systemd needed: the servers run in the background with pid files.
#
#   deploy/local/services.sh install                 install what is missing (apt, maven, go install)
#   deploy/local/services.sh start  [clickhouse|kafka|alertmanager|cluster]   start (default all but cluster), wait
#   deploy/local/services.sh stop   [clickhouse|kafka|alertmanager|cluster]   stop (default all), no process left
#                                    (clickhouse2 alone: the replica the cluster tests stop and start again)
#   deploy/local/services.sh status                  one line per service (exit 3 if one is down)
#   deploy/local/services.sh env                     export lines for the tests
#   deploy/local/services.sh reset [--all]           stop and delete the state (--all: jars, binaries too)
#   deploy/local/services.sh logs  [clickhouse|kafka|alertmanager]    tail the service logs
#
# State lives in <repo>/.local (GPUMETER_LOCAL_DIR overrides). Ports: GPUMETER_CH_PORT (19000),
# GPUMETER_CH_HTTP_PORT (18123), GPUMETER_KAFKA_PORT (19092), GPUMETER_KAFKA_CONTROLLER_PORT (19093),
# GPUMETER_ALERTMANAGER_PORT (19094). The cluster (`start cluster`: ZooKeeper and two more ClickHouse servers beside
# the first, deploy/local/clickhouse-cluster/cluster.xml): GPUMETER_ZK_PORT (19181), GPUMETER_CH2_PORT (19001),
# GPUMETER_CH2_HTTP_PORT (18124), GPUMETER_CH3_PORT (19002), GPUMETER_CH3_HTTP_PORT (18125); each server's
# interserver (replication) port is its native port + 9.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: '&' in ${x//a/b} stays literal

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"

STATE="${GPUMETER_LOCAL_DIR:-$REPO/.local}"
CH_PORT="${GPUMETER_CH_PORT:-19000}"
CH_HTTP_PORT="${GPUMETER_CH_HTTP_PORT:-18123}"
KAFKA_PORT="${GPUMETER_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${GPUMETER_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP="${GPUMETER_KAFKA_HEAP:--Xms256m -Xmx768m}"
AM_PORT="${GPUMETER_ALERTMANAGER_PORT:-19094}"
ZK_PORT="${GPUMETER_ZK_PORT:-19181}"
CH2_PORT="${GPUMETER_CH2_PORT:-19001}"
CH2_HTTP_PORT="${GPUMETER_CH2_HTTP_PORT:-18124}"
CH3_PORT="${GPUMETER_CH3_PORT:-19002}"
CH3_HTTP_PORT="${GPUMETER_CH3_HTTP_PORT:-18125}"
ZK_DIR="$STATE/zookeeper"

CH_DIR="$STATE/clickhouse"
KAFKA_DIR="$STATE/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_LIBS_MARKER="$KAFKA_LIBS/.complete"
KAFKA_POM="$HERE/kafka/pom.xml"
AM_DIR="$STATE/alertmanager"
# Alertmanager is built from source (github.com/prometheus/alertmanager); module versions >= 0.32
# do not build with `go install` (their UI assets are not in the module). Debian's
# prometheus-alertmanager (0.25) is the fallback when the build fails.
AM_MODULE="github.com/prometheus/alertmanager"
AM_VERSION="v0.28.1"
AM_BIN="$STATE/bin/alertmanager"
AM_MARKER="$STATE/bin/.alertmanager.version"

CH_START_TIMEOUT=60
KAFKA_START_TIMEOUT=120
AM_START_TIMEOUT=30
STOP_TIMEOUT=20

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# helpers

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root for: $*"; fi
}

# One services.sh at a time per state dir (make test and make demo may overlap).
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if ! flock -w 300 9; then die "another services.sh holds $STATE/.lock for 300s"; fi
}

# render TEMPLATE OUT KEY=VALUE... : replaces @KEY@ by VALUE, pure bash (no sed escaping issues).
render() {
  local tmpl="$1" out="$2" text kv
  shift 2
  text="$(<"$tmpl")"
  for kv in "$@"; do
    text="${text//"@${kv%%=*}@"/"${kv#*=}"}"
  done
  printf '%s\n' "$text" >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT (no Java, no clients).
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# is_ours PID PATTERN: PID is alive, runs clickhouse-server, java or alertmanager, and its command line holds
# PATTERN (our own config path). Checked in bash, so a grep/pgrep holding PATTERN never matches.
is_ours() {
  local pid="$1" pattern="$2" args=() exe
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || return 1
  [ "${#args[@]}" -gt 0 ] || return 1
  exe="${args[0]##*/}"
  case "$exe" in clickhouse-server | clickhouse | java | alertmanager | prometheus-alertmanager) ;; *) return 1 ;; esac
  [[ " ${args[*]} " == *" $pattern "* ]]
}

# pid_of NAME PATTERN: prints the pid of our running server, from the pid file or, if that is
# missing or stale, from the process table (pattern = our own config path, never a broad name).
pid_of() {
  local name="$1" pattern="$2" pidfile="$STATE/$1/$1.pid" pid=""
  if [ -s "$pidfile" ]; then
    pid="$(<"$pidfile")"
    if is_ours "$pid" "$pattern"; then echo "$pid"; return 0; fi
  fi
  for pid in $(pgrep -f -- "$pattern" 2>/dev/null || true); do
    if is_ours "$pid" "$pattern"; then
      if [ -d "$STATE/$name" ]; then echo "$pid" >"$pidfile"; fi
      echo "$pid"; return 0
    fi
  done
  rm -f "$pidfile"
  return 1
}

ch_pattern() { printf '%s' "--config-file=$CH_DIR/config.xml"; }
kafka_pattern() { printf '%s' "kafka.Kafka $KAFKA_DIR/server.properties"; }
am_pattern() { printf '%s' "--config.file=$AM_DIR/alertmanager.yml"; }

# http_ok PORT PATH: GET http://127.0.0.1:PORT/PATH answers 200 (pure bash, no curl needed).
http_ok() {
  # shellcheck disable=SC2016 # $1 and $2 are the inner bash's arguments
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$2" "$1" >&3
    IFS= read -r line <&3 || exit 1
    [[ "$line" == "HTTP/1."?" 200"* ]]' http_ok "$1" "$2" 2>/dev/null
}

tail_log() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# stop_pid NAME PID: TERM the server's process group, wait, then KILL.
stop_pid() {
  local name="$1" pid="$2" target i
  target="$pid"
  # setsid made the server its own process group leader: signal the whole group.
  if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then target="-$pid"; fi
  log "stopping $name (pid $pid)"
  kill -TERM -- "$target" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in ${STOP_TIMEOUT}s: KILL"
    kill -KILL -- "$target" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # Anything left in the group (should be nothing).
  if [ "$target" != "$pid" ]; then kill -KILL -- "$target" 2>/dev/null || true; fi
  kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) is still alive"
  return 0
}

# ---------------------------------------------------------------------------------------------
# install

apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  # Keep package scripts from starting a system ClickHouse (port 9000) where an init could.
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
    ours=1
  fi
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
      && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >&2 || rc=$?
  if [ -n "$ours" ]; then as_root rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install ${missing[*]} failed (rc $rc)"
}

kafka_libs_complete() {
  [ -f "$KAFKA_LIBS_MARKER" ] && [ "$(<"$KAFKA_LIBS_MARKER")" = "$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)" ]
}

install_kafka_libs() {
  kafka_libs_complete && return 0
  command -v mvn >/dev/null 2>&1 || apt_install_missing maven
  log "fetching Kafka broker jars with maven into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  local mlog="$KAFKA_DIR/mvn.log"
  if ! mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS" -f "$KAFKA_POM" >"$mlog" 2>&1; then
    tail_log "$mlog"
    die "maven could not fetch the Kafka jars"
  fi
  ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $KAFKA_LIBS"
  sha256sum <"$KAFKA_POM" | cut -d' ' -f1 >"$KAFKA_LIBS_MARKER"
}

install_clickhouse() {
  apt_install_missing clickhouse-server clickhouse-client
}

install_kafka() {
  local pkgs=(kcat)
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  apt_install_missing "${pkgs[@]}"
  mkdir -p "$KAFKA_DIR"
  install_kafka_libs
}

# The binary in <state>/bin is used while its marker names the pinned version ("debian" after the
# fallback): `reset --all` (or deleting <state>/bin/alertmanager) makes the next start rebuild it.
installed_alertmanager() {
  [ -x "$AM_BIN" ] && [ -f "$AM_MARKER" ] || return 1
  case "$(<"$AM_MARKER")" in "$AM_VERSION" | debian) return 0 ;; *) return 1 ;; esac
}

install_alertmanager() {
  installed_alertmanager && return 0
  mkdir -p "$STATE/bin" "$AM_DIR/log"
  rm -f "$AM_MARKER"
  local blog="$AM_DIR/log/install.log" t0=$SECONDS
  if command -v go >/dev/null 2>&1; then
    log "building alertmanager $AM_VERSION with go install into $STATE/bin (about a minute the first time)"
    # GOFLAGS cleared so that a caller's -mod=vendor or the like cannot break a module-mode install;
    # the -X sets what `alertmanager --version` reports (go install does not).
    if (cd "$STATE/bin" && GOBIN="$STATE/bin" GOFLAGS=-buildvcs=false go install \
        -ldflags "-X github.com/prometheus/common/version.Version=${AM_VERSION#v} -X github.com/prometheus/common/version.Branch=go-install" \
        "$AM_MODULE/cmd/alertmanager@$AM_VERSION") >"$blog" 2>&1 && [ -x "$AM_BIN" ]; then
      echo "$AM_VERSION" >"$AM_MARKER"
      log "built $AM_BIN in $((SECONDS - t0))s"
      return 0
    fi
    tail_log "$blog"
    log "go install $AM_MODULE/cmd/alertmanager@$AM_VERSION failed: falling back to Debian's prometheus-alertmanager"
  else
    log "no go toolchain: falling back to Debian's prometheus-alertmanager"
  fi
  apt_install_missing prometheus-alertmanager
  [ -x /usr/bin/prometheus-alertmanager ] || die "no /usr/bin/prometheus-alertmanager after apt-get install"
  ln -sfn /usr/bin/prometheus-alertmanager "$AM_BIN"
  echo debian >"$AM_MARKER"
}

# Prometheus (Debian's package: prometheus and promtool) is not a service of the stack: the dashboard test starts its
# own on a free port, and deploy/prometheus/check.sh runs promtool. Installed here so that `make test` has it.
install_prometheus() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
  apt_install_missing prometheus
}

installed_clickhouse() { command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; }
installed_kafka() { command -v kcat >/dev/null 2>&1 && command -v java >/dev/null 2>&1 && kafka_libs_complete; }

# ---------------------------------------------------------------------------------------------
# ClickHouse

start_clickhouse() {
  local pid
  installed_clickhouse || install_clickhouse
  mkdir -p "$CH_DIR/log" "$CH_DIR/data/tmp" "$CH_DIR/data/user_files" "$CH_DIR/data/format_schemas"
  if pid="$(pid_of clickhouse "$(ch_pattern)")"; then
    log "clickhouse already running (pid $pid)"
  else
    port_open "$CH_PORT" && die "port 127.0.0.1:$CH_PORT is taken by another process (not ours); stop it or set GPUMETER_CH_PORT"
    port_open "$CH_HTTP_PORT" && die "port 127.0.0.1:$CH_HTTP_PORT is taken by another process (not ours); stop it or set GPUMETER_CH_HTTP_PORT"
    render "$HERE/clickhouse/config.xml" "$CH_DIR/config.xml" \
      "CH_DIR=$CH_DIR" "CH_PORT=$CH_PORT" "CH_HTTP_PORT=$CH_HTTP_PORT"
    # gpumeter's three users (migrate, writer, reader; see the template) with loopback-only local passwords
    # "local-<role>", on the database the demo uses.
    render "$HERE/clickhouse/users.xml" "$CH_DIR/users.xml" "DB=gpumeter" \
      "MIGRATE_PASSWORD_SHA256=$(printf %s local-migrate | sha256sum | cut -d' ' -f1)" \
      "WRITER_PASSWORD_SHA256=$(printf %s local-writer | sha256sum | cut -d' ' -f1)" \
      "READER_PASSWORD_SHA256=$(printf %s local-reader | sha256sum | cut -d' ' -f1)"
    log "starting clickhouse on 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT)"
    (exec 9>&-; cd "$CH_DIR" && exec setsid nohup clickhouse-server --config-file="$CH_DIR/config.xml" \
      </dev/null >>"$CH_DIR/log/stdout.log" 2>&1) &
    pid=$!
    echo "$pid" >"$CH_DIR/clickhouse.pid"
  fi
  local deadline=$((SECONDS + CH_START_TIMEOUT))
  until clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q 'SELECT 1' >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$CH_DIR/log/stdout.log" "$CH_DIR/log/server.err.log"
      rm -f "$CH_DIR/clickhouse.pid"
      die "clickhouse exited during start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_log "$CH_DIR/log/stdout.log" "$CH_DIR/log/server.err.log"
      die "clickhouse not ready after ${CH_START_TIMEOUT}s (pid $pid still running; see $CH_DIR/log)"
    fi
    sleep 0.5
  done
  log "clickhouse ready: 127.0.0.1:$CH_PORT"
}

stop_clickhouse() {
  local pid
  if pid="$(pid_of clickhouse "$(ch_pattern)")"; then
    stop_pid clickhouse "$pid"
  fi
  rm -f "$CH_DIR/clickhouse.pid"
}

status_clickhouse() {
  local pid
  if pid="$(pid_of clickhouse "$(ch_pattern)")"; then
    if clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q 'SELECT version()' >/dev/null 2>&1; then
      echo "clickhouse: running (pid $pid) native 127.0.0.1:$CH_PORT http 127.0.0.1:$CH_HTTP_PORT data $CH_DIR/data"
    else
      echo "clickhouse: starting or unhealthy (pid $pid, 127.0.0.1:$CH_PORT does not answer)"
      return 1
    fi
  else
    echo "clickhouse: stopped"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Kafka

kafka_java() {
  java -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_ready() {
  local md
  port_open "$KAFKA_PORT" || return 1
  md="$(timeout 15 kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 10 2>/dev/null)" || return 1
  [[ "$md" == *"broker 1 at 127.0.0.1:$KAFKA_PORT"* ]]
}

start_kafka() {
  local pid
  installed_kafka || install_kafka
  mkdir -p "$KAFKA_DIR/log" "$KAFKA_DIR/data"
  if pid="$(pid_of kafka "$(kafka_pattern)")"; then
    log "kafka already running (pid $pid)"
  else
    port_open "$KAFKA_PORT" && die "port 127.0.0.1:$KAFKA_PORT is taken by another process (not ours); stop it or set GPUMETER_KAFKA_PORT"
    port_open "$KAFKA_CONTROLLER_PORT" && die "port 127.0.0.1:$KAFKA_CONTROLLER_PORT is taken by another process (not ours); stop it or set GPUMETER_KAFKA_CONTROLLER_PORT"
    render "$HERE/kafka/server.properties" "$KAFKA_DIR/server.properties" \
      "KAFKA_DIR=$KAFKA_DIR" "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT"
    render "$HERE/kafka/log4j2.xml" "$KAFKA_DIR/log4j2.xml" "KAFKA_LOG=$KAFKA_DIR/log/server.log"
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      local cluster_id
      cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_DIR/log/format.log")" \
        || { tail_log "$KAFKA_DIR/log/format.log"; die "kafka StorageTool random-uuid failed"; }
      log "formatting kafka storage (cluster id $cluster_id)"
      if ! kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
          -c "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/log/format.log" 2>&1; then
        tail_log "$KAFKA_DIR/log/format.log"
        die "kafka storage format failed"
      fi
    fi
    log "starting kafka on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
    # shellcheck disable=SC2086 # KAFKA_HEAP is a list of JVM options
    (exec 9>&-; cd "$KAFKA_DIR" && exec setsid nohup java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" -Dkafka.logs.dir="$KAFKA_DIR/log" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
      </dev/null >>"$KAFKA_DIR/log/stdout.log" 2>&1) &
    pid=$!
    echo "$pid" >"$KAFKA_DIR/kafka.pid"
  fi
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until kafka_ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$KAFKA_DIR/log/stdout.log" "$KAFKA_DIR/log/server.log"
      rm -f "$KAFKA_DIR/kafka.pid"
      die "kafka exited during start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_log "$KAFKA_DIR/log/stdout.log" "$KAFKA_DIR/log/server.log"
      die "kafka not ready after ${KAFKA_START_TIMEOUT}s (pid $pid still running; see $KAFKA_DIR/log)"
    fi
    sleep 1
  done
  log "kafka ready: 127.0.0.1:$KAFKA_PORT"
}

stop_kafka() {
  local pid
  if pid="$(pid_of kafka "$(kafka_pattern)")"; then
    stop_pid kafka "$pid"
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

status_kafka() {
  local pid
  if pid="$(pid_of kafka "$(kafka_pattern)")"; then
    if kafka_ready; then
      echo "kafka: running (pid $pid) broker 127.0.0.1:$KAFKA_PORT controller 127.0.0.1:$KAFKA_CONTROLLER_PORT data $KAFKA_DIR/data"
    else
      echo "kafka: starting or unhealthy (pid $pid, 127.0.0.1:$KAFKA_PORT does not answer metadata)"
      return 1
    fi
  else
    echo "kafka: stopped"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Alertmanager

start_alertmanager() {
  local pid
  installed_alertmanager || install_alertmanager
  mkdir -p "$AM_DIR/log" "$AM_DIR/data"
  if pid="$(pid_of alertmanager "$(am_pattern)")"; then
    log "alertmanager already running (pid $pid)"
  else
    port_open "$AM_PORT" && die "port 127.0.0.1:$AM_PORT is taken by another process (not ours); stop it or set GPUMETER_ALERTMANAGER_PORT"
    render "$HERE/alertmanager/alertmanager.yml" "$AM_DIR/alertmanager.yml"
    log "starting alertmanager on 127.0.0.1:$AM_PORT ($(<"$AM_MARKER"))"
    # --cluster.listen-address= (empty) turns gossip off: one node, no port 9094 on 0.0.0.0.
    (exec 9>&-; cd "$AM_DIR" && exec setsid nohup "$AM_BIN" --config.file="$AM_DIR/alertmanager.yml" \
      --storage.path="$AM_DIR/data" --web.listen-address="127.0.0.1:$AM_PORT" \
      --web.external-url="http://127.0.0.1:$AM_PORT" --cluster.listen-address= \
      </dev/null >>"$AM_DIR/log/stdout.log" 2>&1) &
    pid=$!
    echo "$pid" >"$AM_DIR/alertmanager.pid"
  fi
  local deadline=$((SECONDS + AM_START_TIMEOUT))
  until http_ok "$AM_PORT" /-/ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$AM_DIR/log/stdout.log"
      rm -f "$AM_DIR/alertmanager.pid"
      die "alertmanager exited during start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_log "$AM_DIR/log/stdout.log"
      die "alertmanager not ready after ${AM_START_TIMEOUT}s (pid $pid still running; see $AM_DIR/log)"
    fi
    sleep 0.2
  done
  log "alertmanager ready: http://127.0.0.1:$AM_PORT"
}

stop_alertmanager() {
  local pid
  if pid="$(pid_of alertmanager "$(am_pattern)")"; then
    stop_pid alertmanager "$pid"
  fi
  rm -f "$AM_DIR/alertmanager.pid"
}

status_alertmanager() {
  local pid
  if pid="$(pid_of alertmanager "$(am_pattern)")"; then
    if http_ok "$AM_PORT" /-/ready; then
      echo "alertmanager: running (pid $pid) http://127.0.0.1:$AM_PORT data $AM_DIR/data"
    else
      echo "alertmanager: starting or unhealthy (pid $pid, http://127.0.0.1:$AM_PORT/-/ready does not answer 200)"
      return 1
    fi
  else
    echo "alertmanager: stopped"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# The ClickHouse cluster (README.md, "Running on a ClickHouse cluster"): ZooKeeper, the first server (replica 1 of
# shard 1, restarted once to read its config.d/cluster.xml), clickhouse2 (replica 2 of shard 1) and clickhouse3
# (shard 2). Lean on purpose: small heaps, small caches, one ZooKeeper node.

zk_pattern() { printf '%s' "$ZK_DIR/zoo.cfg"; }
installed_zookeeper() { [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; }

zk_ready() { [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT; printf ruok >&3; head -c 4 <&3" 2>/dev/null)" = imok ]; }

start_zookeeper() {
  local pid
  installed_zookeeper || apt_install_missing zookeeper
  mkdir -p "$ZK_DIR/data" "$ZK_DIR/log"
  if pid="$(pid_of zookeeper "$(zk_pattern)")"; then
    log "zookeeper already running (pid $pid)"
  else
    port_open "$ZK_PORT" && die "port 127.0.0.1:$ZK_PORT is taken by another process (not ours); stop it or set GPUMETER_ZK_PORT"
    cat >"$ZK_DIR/zoo.cfg" <<ZOO
tickTime=500
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat
ZOO
    log "starting zookeeper on 127.0.0.1:$ZK_PORT"
    (exec 9>&-; cd "$ZK_DIR" && exec setsid nohup java -Xms64m -Xmx256m -Dzookeeper.log.dir="$ZK_DIR/log" \
      -cp "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_DIR/zoo.cfg" \
      </dev/null >>"$ZK_DIR/log/stdout.log" 2>&1) &
    pid=$!
    echo "$pid" >"$ZK_DIR/zookeeper.pid"
  fi
  local deadline=$((SECONDS + 60))
  until zk_ready; do
    kill -0 "$pid" 2>/dev/null || { tail_log "$ZK_DIR/log/stdout.log"; die "zookeeper exited during start"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_log "$ZK_DIR/log/stdout.log"; die "zookeeper not ready after 60s"; }
    sleep 0.5
  done
  log "zookeeper ready: 127.0.0.1:$ZK_PORT"
}

stop_zookeeper() {
  local pid
  if pid="$(pid_of zookeeper "$(zk_pattern)")"; then stop_pid zookeeper "$pid"; fi
  rm -f "$ZK_DIR/zookeeper.pid"
}

# cluster_config DIR NATIVE_PORT SHARD REPLICA: the cluster's part of a server's config, in DIR/config.d.
cluster_config() {
  mkdir -p "$1/config.d"
  render "$HERE/clickhouse-cluster/cluster.xml" "$1/config.d/cluster.xml" \
    "SHARD=$3" "REPLICA=$4" "INTERSERVER_PORT=$(($2 + 9))" "ZK_PORT=$ZK_PORT" \
    "CH1_PORT=$CH_PORT" "CH2_PORT=$CH2_PORT" "CH3_PORT=$CH3_PORT"
  mkdir -p "$1/users.d"
  cp -f "$HERE/clickhouse-cluster/users.xml" "$1/users.d/cluster.xml"
}

# start_cluster_server NAME NATIVE_PORT HTTP_PORT SHARD REPLICA: one more ClickHouse 18.16, its state in .local/NAME.
start_cluster_server() {
  local name="$1" port="$2" http="$3" dir="$STATE/$1" pid
  local pattern="--config-file=$dir/config.xml"
  mkdir -p "$dir/log" "$dir/data/tmp" "$dir/data/user_files" "$dir/data/format_schemas"
  if pid="$(pid_of "$name" "$pattern")"; then
    log "$name already running (pid $pid)"
  else
    port_open "$port" && die "port 127.0.0.1:$port is taken by another process (not ours)"
    port_open "$http" && die "port 127.0.0.1:$http is taken by another process (not ours)"
    render "$HERE/clickhouse/config.xml" "$dir/config.xml" "CH_DIR=$dir" "CH_PORT=$port" "CH_HTTP_PORT=$http"
    # The same users as the first server (its users.xml, rendered from the template with the local passwords).
    cp -f "$CH_DIR/users.xml" "$dir/users.xml"
    cluster_config "$dir" "$port" "$4" "$5"
    log "starting $name on 127.0.0.1:$port (http $http), shard $4 replica $5"
    (exec 9>&-; cd "$dir" && exec setsid nohup clickhouse-server --config-file="$dir/config.xml" \
      </dev/null >>"$dir/log/stdout.log" 2>&1) &
    pid=$!
    echo "$pid" >"$dir/$name.pid"
  fi
  local deadline=$((SECONDS + CH_START_TIMEOUT))
  until clickhouse-client --host 127.0.0.1 --port "$port" -q 'SELECT 1' >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { tail_log "$dir/log/stdout.log" "$dir/log/server.err.log"; die "$name exited during start"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_log "$dir/log/server.err.log"; die "$name not ready after ${CH_START_TIMEOUT}s"; }
    sleep 0.5
  done
  log "$name ready: 127.0.0.1:$port"
}

start_cluster() {
  start_zookeeper
  # The first server joins as replica 1 of shard 1: restart it if it runs without the cluster's config.
  cluster_config "$CH_DIR" "$CH_PORT" 1 1
  if pid_of clickhouse "$(ch_pattern)" >/dev/null &&
    [ "$(clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q "SELECT count() FROM system.macros" 2>/dev/null)" != 2 ]; then
    log "restarting clickhouse to join the cluster"
    stop_clickhouse
  fi
  start_clickhouse
  start_cluster_server clickhouse2 "$CH2_PORT" "$CH2_HTTP_PORT" 1 2
  start_cluster_server clickhouse3 "$CH3_PORT" "$CH3_HTTP_PORT" 2 1
}

stop_cluster_server() {
  local pid
  if pid="$(pid_of "$1" "--config-file=$STATE/$1/config.xml")"; then stop_pid "$1" "$pid"; fi
  rm -f "$STATE/$1/$1.pid"
}

# One replica alone, for the tests that stop and start it (the cluster must be started).
start_clickhouse2() { start_cluster_server clickhouse2 "$CH2_PORT" "$CH2_HTTP_PORT" 1 2; }
stop_clickhouse2() { stop_cluster_server clickhouse2; }

stop_cluster() {
  stop_cluster_server clickhouse2
  stop_cluster_server clickhouse3
  stop_zookeeper
  # The first server stays as it is (a single server again at its next start).
  rm -f "$CH_DIR/config.d/cluster.xml" "$CH_DIR/users.d/cluster.xml"
}

status_cluster() {
  local name port
  for name in clickhouse2:$CH2_PORT clickhouse3:$CH3_PORT; do
    port="${name#*:}" name="${name%%:*}"
    if pid_of "$name" "--config-file=$STATE/$name/config.xml" >/dev/null; then
      echo "$name: running native 127.0.0.1:$port"
    else
      echo "$name: stopped"
    fi
  done
  if pid_of zookeeper "$(zk_pattern)" >/dev/null; then echo "zookeeper: running 127.0.0.1:$ZK_PORT"; else echo "zookeeper: stopped"; fi
}

# ---------------------------------------------------------------------------------------------

services_from_args() {
  case "${1:-all}" in
    all | "") echo "clickhouse kafka alertmanager" ;;
    clickhouse | ch) echo clickhouse ;;
    kafka) echo kafka ;;
    alertmanager | am) echo alertmanager ;;
    cluster) echo cluster ;;
    clickhouse2) echo clickhouse2 ;;
    *) die "unknown service '$1' (clickhouse|kafka|alertmanager|cluster|clickhouse2)" ;;
  esac
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  install)
    lock_state
    install_clickhouse
    install_kafka
    install_alertmanager
    install_prometheus
    log "installed: $(clickhouse-client --version 2>/dev/null | head -n1), kafka jars in $KAFKA_LIBS, $(kcat -V 2>/dev/null | head -n1), $("$AM_BIN" --version 2>&1 | head -n1)"
    ;;
  start)
    lock_state
    install_prometheus
    for s in $(services_from_args "${1:-}"); do "start_$s"; done
    ;;
  stop)
    lock_state
    if [ -z "${1:-}" ] || [ "$1" = all ]; then stop_cluster; fi
    for s in $(services_from_args "${1:-}"); do "stop_$s"; done
    ;;
  restart)
    lock_state
    for s in $(services_from_args "${1:-}"); do "stop_$s"; "start_$s"; done
    ;;
  status)
    rc=0
    status_clickhouse || rc=3
    status_kafka || rc=3
    status_alertmanager || rc=3
    status_cluster
    exit "$rc"
    ;;
  env)
    echo "export GPUMETER_TEST_KAFKA=127.0.0.1:$KAFKA_PORT"
    echo "export GPUMETER_TEST_CLICKHOUSE=127.0.0.1:$CH_PORT"
    echo "export GPUMETER_TEST_CLICKHOUSE_HTTP=127.0.0.1:$CH_HTTP_PORT"
    echo "export GPUMETER_TEST_ALERTMANAGER=http://127.0.0.1:$AM_PORT"
    # The cluster (start cluster): its three servers, first the replicas of shard 1, and its ZooKeeper.
    echo "export GPUMETER_TEST_CLICKHOUSE_CLUSTER=127.0.0.1:$CH_PORT,127.0.0.1:$CH2_PORT,127.0.0.1:$CH3_PORT"
    echo "export GPUMETER_TEST_ZOOKEEPER=127.0.0.1:$ZK_PORT"
    ;;
  reset)
    lock_state
    stop_cluster
    rm -rf "$STATE/clickhouse2" "$STATE/clickhouse3" "$ZK_DIR"
    stop_clickhouse
    stop_kafka
    stop_alertmanager
    log "deleting state in $STATE"
    rm -rf "$CH_DIR" "$AM_DIR"
    if [ "${1:-}" = "--all" ]; then
      rm -rf "$KAFKA_DIR"
      rm -f "$AM_BIN" "$AM_MARKER"
      rmdir "$STATE/bin" 2>/dev/null || true
    else
      # Keep the downloaded jars (GPUMETER: `reset --all` removes them too).
      find "$KAFKA_DIR" -mindepth 1 -maxdepth 1 ! -name libs -exec rm -rf {} + 2>/dev/null || true
    fi
    ;;
  logs)
    for s in $(services_from_args "${1:-}"); do
      case "$s" in
        clickhouse) tail_log "$CH_DIR/log/stdout.log" "$CH_DIR/log/server.err.log" "$CH_DIR/log/server.log" 2>&1 ;;
        kafka) tail_log "$KAFKA_DIR/log/stdout.log" "$KAFKA_DIR/log/server.log" 2>&1 ;;
        alertmanager) tail_log "$AM_DIR/log/stdout.log" 2>&1 ;;
      esac
    done
    ;;
  -h | --help | help | "")
    usage
    [ -n "$cmd" ] || exit 2
    ;;
  *)
    usage >&2
    die "unknown command '$cmd'"
    ;;
esac
