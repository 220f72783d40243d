#!/usr/bin/env bash
# Local source servers that stand in for the utility's production systems:
#   hbase     standalone HBase 2.6 (master + in-process region server + ZooKeeper)
#             and its Thrift1 gateway (happybase talks to it), jars from jvm/hbase/pom.xml
#             (`thrift` alone: the Thrift1 gateway, e.g. `restart thrift`)
#             With NTL_HBASE_KERBEROS=1 HBase is Kerberos-secured (SASL/GSSAPI RPC, the
#             `kdc` below is started first): master and region server log in as
#             hbase/localhost@$NTL_KRB5_REALM, clients need a Kerberos login (the
#             hbase-spark connector with spark.kerberos.principal/keytab); the Thrift1
#             gateway logs in with the same keytab and serves plain Thrift (happybase),
#             the unsecured gateway a secure cluster may offer for loading.
#   kdc       MIT Kerberos KDC (Debian krb5-kdc) for realm $NTL_KRB5_REALM (default NTL.TEST),
#             database, krb5.conf and keytabs under var/kdc: hbase/localhost (hbase.keytab)
#             and the jobs' principal ntl (ntl.keytab)
#   postgres  PostgreSQL (Debian packages), the stand-in for Oracle on the same
#             Spark JDBC code path: database `ntl`, user `ntl`; the web console's
#             database `ntl_console` (same user)
# and a small multi-process cluster for the cluster test (not in `all`):
#   hdfs      HDFS NameNode + one DataNode (Hadoop 3.3, jars from jvm/hdfs/pom.xml),
#             fs.defaultFS hdfs://127.0.0.1:$NTL_HDFS_PORT, replication 1
#   spark     Spark standalone master + two workers (1 core, $NTL_SPARK_WORKER_MEMORY
#             each) from pyspark's own distribution in .venv (spark-class)
#   mlflow    `mlflow server` from .venv on PostgreSQL database `mlflow`, artifacts
#             proxied (--serve-artifacts) into var/mlflow-server/artifacts
#   cluster   postgres + hdfs + spark + mlflow
#
# Usage: scripts/services.sh start|stop|status|restart [hbase|thrift|postgres|hdfs|spark|mlflow|cluster|kdc|all]
#        scripts/services.sh ports        # the ports this checkout uses (chosen now for stopped servers)
#        scripts/services.sh overrides    # --set arguments pointing a job at these servers
#
# Everything binds to 127.0.0.1 and lives under $NTL_SERVICES_DIR (default ./var):
# var/hbase/{lib,conf,data,zk,logs,run}, var/postgres/{data,run,postgres.log} (or
# /var/tmp/ntl-postgres-<hash> when the postgres OS user cannot reach var/).
# `start` is idempotent and waits until each server answers (timeout
# $NTL_SERVICES_TIMEOUT seconds, default 180); it exits non-zero with the log
# tail when a server does not come up.
#
# Ports are per checkout, recorded in $NTL_SERVICES_DIR/services.env (KEY=VALUE
# lines: the ports below plus NTL_JDBC_URL, NTL_HBASE_CONF, NTL_HBASE_LIB, NTL_HDFS_URL,
# NTL_HDFS_CONF, NTL_SPARK_MASTER_URL, NTL_MLFLOW_URL), which
# the tests read and `overrides` turns into `--set hbase.port=... --set jdbc.url=...`.
# A running server keeps its recorded port. A server about to start takes the
# port from its environment variable when set (and fails if that port is taken),
# else its recorded port, else the default; if that port is taken by another
# process (a second checkout's servers) it takes the next free port above it.
#
# Environment (defaults are for local use and tests, never real secrets):
#   NTL_JDBC_PASSWORD      password set for the `ntl` role        (default: ntl)
#   NTL_PG_PORT            PostgreSQL port                       (default: 5432)
#   NTL_HBASE_THRIFT_PORT  Thrift1 port                          (default: 9090)
#   NTL_HBASE_ZK_PORT      ZooKeeper client port                 (default: 2181)
#   NTL_HBASE_MASTER_PORT  HBase master RPC port                 (default: 16000)
#   NTL_HBASE_RS_PORT      HBase region server RPC port          (default: 16020)
#   NTL_HBASE_HEAP         master/region server heap             (default: 1g)
#   NTL_HDFS_PORT          NameNode RPC port                     (default: 8020)
#   NTL_SPARK_MASTER_PORT  Spark standalone master port          (default: 7077)
#   NTL_SPARK_WORKER_MEMORY memory each worker offers executors  (default: 3g)
#   NTL_MLFLOW_PORT        mlflow server port                    (default: 5000)
#   NTL_KDC_PORT           Kerberos KDC port (TCP and UDP)        (default: 60088)
#   NTL_KRB5_REALM         Kerberos realm                        (default: NTL.TEST)
#   NTL_HBASE_KERBEROS     1 = Kerberos-secured HBase            (default: 0)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$(pwd)"
VAR="${NTL_SERVICES_DIR:-$REPO/var}"
mkdir -p "$VAR"
VAR="$(cd "$VAR" && pwd)"
TIMEOUT="${NTL_SERVICES_TIMEOUT:-180}"
HOST=127.0.0.1

PG_DB=ntl
PG_CONSOLE_DB=ntl_console
PG_USER=ntl
PG_PASSWORD="${NTL_JDBC_PASSWORD:-ntl}"
PG_DIR="$VAR/postgres"
if [ "$(id -u)" = 0 ] && id "${NTL_PG_OS_USER:-postgres}" >/dev/null 2>&1 \
   && ! runuser -u "${NTL_PG_OS_USER:-postgres}" -- test -x "$VAR" 2>/dev/null; then
  # The cluster owner cannot reach var/ (a private parent directory, e.g. a checkout
  # under `mktemp -d`): keep this checkout's cluster under /var/tmp instead.
  PG_DIR="/var/tmp/ntl-postgres-$(printf %s "$VAR" | md5sum | cut -c1-12)"
fi
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"

HB_DIR="$VAR/hbase"
HB_LIB="${NTL_HBASE_LIB:-$HB_DIR/lib}"  # NTL_HBASE_LIB: share the jars of another services dir
HB_CONF="$HB_DIR/conf"
HB_LOGS="$HB_DIR/logs"
HB_RUN="$HB_DIR/run"
HB_HEAP="${NTL_HBASE_HEAP:-1g}"

HB_KERBEROS="${NTL_HBASE_KERBEROS:-0}"
HB_CLIENT_CONF="$HB_DIR/client-conf"  # hbase-site.xml + core-site.xml for Kerberos clients

KDC_DIR="$VAR/kdc"
REALM="${NTL_KRB5_REALM:-NTL.TEST}"
HB_PRINCIPAL="hbase/localhost@$REALM"  # explicit (no _HOST): clients resolve 127.0.0.1 to localhost
CLIENT_PRINCIPAL="ntl@$REALM"

HD_DIR="$VAR/hdfs"
HD_LIB="$HD_DIR/lib"
HD_CONF="$HD_DIR/conf"
HD_LOGS="$HD_DIR/logs"
HD_RUN="$HD_DIR/run"

SP_DIR="$VAR/spark"
SP_WORKERS=2
SP_WORKER_MEMORY="${NTL_SPARK_WORKER_MEMORY:-3g}"

ML_DIR="$VAR/mlflow-server"
ML_DB=mlflow

PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"

die() { echo "services: $*" >&2; exit 1; }
say() { echo "services: $*"; }

alive() { # pidfile -> 0 when its process runs
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# ------------------------------------------------------------------ ports
ENV_FILE="$VAR/services.env"
# shell variable:environment variable:default
PORT_SPECS="PG_PORT:NTL_PG_PORT:5432 THRIFT_PORT:NTL_HBASE_THRIFT_PORT:9090 ZK_PORT:NTL_HBASE_ZK_PORT:2181
MASTER_PORT:NTL_HBASE_MASTER_PORT:16000 RS_PORT:NTL_HBASE_RS_PORT:16020
HDFS_PORT:NTL_HDFS_PORT:8020 SPARK_PORT:NTL_SPARK_MASTER_PORT:7077 MLFLOW_PORT:NTL_MLFLOW_PORT:5000
KDC_PORT:NTL_KDC_PORT:60088"

recorded_port() { # environment variable name -> its port in services.env, or nothing
  [ -f "$ENV_FILE" ] && sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p" "$ENV_FILE" | tail -1
  return 0
}

for spec in $PORT_SPECS; do
  IFS=: read -r var env default <<<"$spec"
  value="${!env:-}"
  [ -n "$value" ] || value="$(recorded_port "$env")"
  printf -v "$var" %s "${value:-$default}"
done
unset spec var env default value

port_free() { # port -> 0 when nothing answers on it and 127.0.0.1:port can be bound
  "$PY" -c 'import socket, sys
port = int(sys.argv[1])
with socket.socket() as c:
    c.settimeout(1)  # a listener with a full backlog never answers: bind below still sees it
    if c.connect_ex(("127.0.0.1", port)) == 0:
        sys.exit(1)
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))' "$1" 2>/dev/null
}

claim_port() { # shell variable (PG_PORT ...) -> a free port for the server about to start, recorded
  local var="$1" spec name env p ours=" " tries=0
  for spec in $PORT_SPECS; do
    name="${spec%%:*}"
    if [ "$name" = "$var" ]; then
      env="$(cut -d: -f2 <<<"$spec")"
    else
      ours="$ours${!name} "  # ports of this checkout's other servers
    fi
  done
  p="${!var}"
  if port_free "$p" && [[ "$ours" != *" $p "* ]]; then write_env; return 0; fi
  [ -z "${!env:-}" ] || die "port $HOST:$p (\$$env) is taken by another process"
  until port_free "$p" && [[ "$ours" != *" $p "* ]]; do
    p=$((p + 1)); tries=$((tries + 1))
    [ "$tries" -le 200 ] || die "no free port in ${!var}..$p for $env"
  done
  say "port $HOST:${!var} is taken by another process: $env=$p for this checkout"
  printf -v "$var" %s "$p"
  write_env
}

write_env() { # record this checkout's ports (atomically: readers never see half a file)
  local spec var env
  {
    echo "# Written by scripts/services.sh: where this checkout's servers listen."
    for spec in $PORT_SPECS; do
      IFS=: read -r var env _ <<<"$spec"
      echo "$env=${!var}"
    done
    echo "NTL_SERVICES_HOST=$HOST"
    echo "NTL_JDBC_URL=jdbc:postgresql://$HOST:$PG_PORT/$PG_DB"
    echo "NTL_HBASE_CONF=$HB_CONF"
    echo "NTL_HBASE_LIB=$HB_LIB"
    echo "NTL_HDFS_URL=hdfs://$HOST:$HDFS_PORT"
    echo "NTL_HDFS_CONF=$HD_CONF"
    echo "NTL_SPARK_MASTER_URL=spark://$HOST:$SPARK_PORT"
    echo "NTL_MLFLOW_URL=http://$HOST:$MLFLOW_PORT"
    echo "NTL_KRB5_CONF=$KDC_DIR/krb5.conf"
    echo "NTL_KRB5_REALM=$REALM"
    echo "NTL_KRB5_PRINCIPAL=$CLIENT_PRINCIPAL"
    echo "NTL_KRB5_KEYTAB=$KDC_DIR/ntl.keytab"
    echo "NTL_HBASE_CLIENT_CONF=$HB_CLIENT_CONF"
  } >"$ENV_FILE.$$"
  mv "$ENV_FILE.$$" "$ENV_FILE"
}

stop_pid() { # pidfile name
  local pidfile="$1" name="$2" pid i
  if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "$name stopped"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "$name killed after 30 s"
}

# ------------------------------------------------------------------ HBase
java_opts() {
  # What bin/hbase adds on Java 17 (HBASE_OTHER_OPTS for JDK 11+), plus java.io.
  echo "-XX:+UseG1GC -Djava.net.preferIPv4Stack=true" \
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true" \
    "--add-modules jdk.unsupported" \
    "--add-opens java.base/java.io=ALL-UNNAMED" \
    "--add-opens java.base/java.nio=ALL-UNNAMED" \
    "--add-opens java.base/sun.nio.ch=ALL-UNNAMED" \
    "--add-opens java.base/java.lang=ALL-UNNAMED" \
    "--add-opens java.base/jdk.internal.ref=ALL-UNNAMED" \
    "--add-opens java.base/java.lang.reflect=ALL-UNNAMED" \
    "--add-opens java.base/java.util=ALL-UNNAMED" \
    "--add-opens java.base/java.util.concurrent=ALL-UNNAMED" \
    "--add-exports java.base/jdk.internal.misc=ALL-UNNAMED" \
    "--add-exports java.security.jgss/sun.security.krb5=ALL-UNNAMED" \
    "--add-exports java.base/sun.net.dns=ALL-UNNAMED" \
    "--add-exports java.base/sun.net.util=ALL-UNNAMED"
}

hbase_jars() {
  if compgen -G "$HB_LIB/hbase-thrift-*.jar" >/dev/null && [ "$HB_LIB/.stamp" -nt "$REPO/jvm/hbase/pom.xml" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: install Maven to resolve the HBase jars (jvm/hbase/pom.xml)"
  say "resolving HBase jars with mvn into $HB_LIB"
  rm -rf "$HB_LIB" && mkdir -p "$HB_LIB"
  mvn -q -B -f "$REPO/jvm/hbase/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$HB_LIB" >"$HB_DIR/mvn.log" 2>&1 \
    || { tail -20 "$HB_DIR/mvn.log" >&2; die "mvn could not resolve jvm/hbase/pom.xml (log: $HB_DIR/mvn.log)"; }
  touch "$HB_LIB/.stamp"
}

hbase_conf() {
  mkdir -p "$HB_CONF" "$HB_LOGS" "$HB_RUN" "$HB_DIR/data" "$HB_DIR/zk" "$HB_DIR/tmp"
  cat >"$HB_CONF/hbase-site.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh: standalone HBase bound to $HOST. -->
<configuration>
  <property><name>hbase.cluster.distributed</name><value>false</value></property>
  <property><name>hbase.rootdir</name><value>file://$HB_DIR/data</value></property>
  <property><name>hbase.tmp.dir</name><value>$HB_DIR/tmp</value></property>
  <property><name>hbase.zookeeper.quorum</name><value>$HOST</value></property>
  <property><name>hbase.zookeeper.property.clientPort</name><value>$ZK_PORT</value></property>
  <property><name>hbase.zookeeper.property.clientPortAddress</name><value>$HOST</value></property>
  <property><name>hbase.zookeeper.property.dataDir</name><value>$HB_DIR/zk</value></property>
  <property><name>hbase.master.hostname</name><value>$HOST</value></property>
  <property><name>hbase.master.port</name><value>$MASTER_PORT</value></property>
  <property><name>hbase.regionserver.port</name><value>$RS_PORT</value></property>
  <property><name>hbase.regionserver.hostname</name><value>$HOST</value></property>
  <property><name>hbase.master.ipc.address</name><value>$HOST</value></property>
  <property><name>hbase.regionserver.ipc.address</name><value>$HOST</value></property>
  <property><name>hbase.master.info.port</name><value>-1</value></property>
  <property><name>hbase.regionserver.info.port</name><value>-1</value></property>
  <!-- the local file system cannot hflush/hsync: allowed for a development server -->
  <property><name>hbase.unsafe.stream.capability.enforce</name><value>false</value></property>
  <property><name>hbase.wal.provider</name><value>filesystem</value></property>
  <property><name>hbase.regionserver.thrift.ipaddress</name><value>$HOST</value></property>
  <property><name>hbase.regionserver.thrift.port</name><value>$THRIFT_PORT</value></property>
  <property><name>hbase.thrift.info.port</name><value>-1</value></property>
  <property><name>hbase.thrift.server.socket.read.timeout</name><value>600000</value></property>
  <!-- scanners of the parallel reader live as long as a Spark task -->
  <property><name>hbase.client.scanner.timeout.period</name><value>600000</value></property>
$(hbase_security_xml server)
</configuration>
EOF
  rm -f "$HB_CONF/core-site.xml"
  if [ "$HB_KERBEROS" = 1 ]; then
    core_site_kerberos >"$HB_CONF/core-site.xml"  # Hadoop's UserGroupInformation reads core-site.xml only
    # what a gateway host of a secure cluster has in /etc/hbase/conf and /etc/hadoop/conf
    mkdir -p "$HB_CLIENT_CONF"
    cat >"$HB_CLIENT_CONF/hbase-site.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh: client settings of the Kerberos-secured HBase at $HOST. -->
<configuration>
  <property><name>hbase.zookeeper.quorum</name><value>$HOST</value></property>
  <property><name>hbase.zookeeper.property.clientPort</name><value>$ZK_PORT</value></property>
$(hbase_security_xml client)
</configuration>
EOF
    core_site_kerberos >"$HB_CLIENT_CONF/core-site.xml"
  else
    rm -rf "$HB_CLIENT_CONF"
  fi
  cat >"$HB_CONF/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = \${sys:hbase.log.dir}/\${sys:hbase.log.file}
appender.file.filePattern = \${sys:hbase.log.dir}/\${sys:hbase.log.file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 64MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger = INFO,file
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = INFO
EOF
}

hbase_security_xml() { # server|client -> the Kerberos properties of hbase-site.xml (none when not secured)
  [ "$HB_KERBEROS" = 1 ] || return 0
  cat <<EOF
  <!-- Kerberos (NTL_HBASE_KERBEROS=1): SASL/GSSAPI on every RPC, realm $REALM of the local kdc -->
  <property><name>hbase.security.authentication</name><value>kerberos</value></property>
  <property><name>hadoop.security.authentication</name><value>kerberos</value></property>
  <property><name>hbase.master.kerberos.principal</name><value>$HB_PRINCIPAL</value></property>
  <property><name>hbase.regionserver.kerberos.principal</name><value>$HB_PRINCIPAL</value></property>
EOF
  [ "$1" = server ] || return 0
  cat <<EOF
  <property><name>hbase.master.keytab.file</name><value>$KDC_DIR/hbase.keytab</value></property>
  <!-- delegation tokens, as on a secure cluster: Spark jobs (and the hbase-spark connector) ask for them -->
  <property><name>hbase.coprocessor.region.classes</name><value>org.apache.hadoop.hbase.security.token.TokenProvider</value></property>
  <property><name>hbase.regionserver.keytab.file</name><value>$KDC_DIR/hbase.keytab</value></property>
  <!-- the Thrift1 gateway logs in as HBase's principal and serves plain Thrift (no hbase.thrift.security.qop) -->
  <property><name>hbase.thrift.kerberos.principal</name><value>$HB_PRINCIPAL</value></property>
  <property><name>hbase.thrift.keytab.file</name><value>$KDC_DIR/hbase.keytab</value></property>
EOF
}

core_site_kerberos() {
  cat <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh: Hadoop's login module (UserGroupInformation) uses Kerberos. -->
<configuration>
  <property><name>hadoop.security.authentication</name><value>kerberos</value></property>
</configuration>
EOF
}

krb5_opts() { # JVM options of a Kerberos-secured HBase process
  [ "$HB_KERBEROS" = 1 ] && echo "-Djava.security.krb5.conf=$KDC_DIR/krb5.conf"
  return 0
}

hbase_launch() { # name heap main-class args...
  local name="$1" heap="$2" main="$3"; shift 3
  # shellcheck disable=SC2046
  nohup java -Xms128m "-Xmx$heap" $(java_opts) $(krb5_opts) \
    -Dhbase.log.dir="$HB_LOGS" -Dhbase.log.file="hbase-$name.log" \
    -Dlog4j.configurationFile="file://$HB_CONF/log4j2.properties" \
    -Dhbase.home.dir="$HB_DIR" -Djava.io.tmpdir="$HB_DIR/tmp" \
    -cp "$HB_CONF:$HB_LIB/*" "$main" "$@" >"$HB_LOGS/$name.out" 2>&1 </dev/null &
  echo $! >"$HB_RUN/$name.pid"
}

hbase_ready() {
  "$PY" - "$HOST" "$THRIFT_PORT" <<'EOF' >/dev/null 2>&1
import sys
import happybase
c = happybase.Connection(sys.argv[1], int(sys.argv[2]), timeout=5000, autoconnect=True)
c.tables()  # needs the master and hbase:meta online, not just the Thrift socket
c.close()
EOF
}

hbase_start() {
  command -v java >/dev/null || die "java not found (HBase needs Java 11+)"
  hbase_jars
  [ "$HB_KERBEROS" != 1 ] || kdc_start
  if alive "$HB_RUN/master.pid"; then
    hbase_conf
    say "hbase master already running (pid $(cat "$HB_RUN/master.pid"))"
  else
    claim_port ZK_PORT; claim_port MASTER_PORT; claim_port RS_PORT
    hbase_conf
    hbase_launch master "$HB_HEAP" org.apache.hadoop.hbase.master.HMaster start
    say "hbase master starting (pid $(cat "$HB_RUN/master.pid"), log $HB_LOGS/hbase-master.log)"
  fi
  thrift_start
}

thrift_start() {
  alive "$HB_RUN/master.pid" || die "hbase master not running: scripts/services.sh start hbase"
  if alive "$HB_RUN/thrift.pid"; then
    say "hbase thrift already running (pid $(cat "$HB_RUN/thrift.pid"))"
  else
    claim_port THRIFT_PORT
    hbase_conf
    hbase_launch thrift 256m org.apache.hadoop.hbase.thrift.ThriftServer start -b "$HOST" -p "$THRIFT_PORT"
    say "hbase thrift starting (pid $(cat "$HB_RUN/thrift.pid"), log $HB_LOGS/hbase-thrift.log)"
  fi
  local waited=0
  until hbase_ready; do
    for name in master thrift; do
      if ! alive "$HB_RUN/$name.pid"; then
        tail -30 "$HB_LOGS/$name.out" "$HB_LOGS/hbase-$name.log" >&2 2>/dev/null || true
        die "hbase $name exited during start-up (logs above, $HB_LOGS)"
      fi
    done
    if [ "$waited" -ge "$TIMEOUT" ]; then
      tail -30 "$HB_LOGS/hbase-master.log" "$HB_LOGS/hbase-thrift.log" >&2 2>/dev/null || true
      die "hbase not ready after ${TIMEOUT}s (logs above, $HB_LOGS)"
    fi
    sleep 1; waited=$((waited + 1))
  done
  say "hbase ready: thrift $HOST:$THRIFT_PORT, zookeeper $HOST:$ZK_PORT, rootdir file://$HB_DIR/data"
}

thrift_stop() {
  stop_pid "$HB_RUN/thrift.pid" "hbase thrift"
}

hbase_stop() {
  thrift_stop
  stop_pid "$HB_RUN/master.pid" "hbase master"
  [ "$HB_KERBEROS" != 1 ] || kdc_stop
}

thrift_status() {
  if alive "$HB_RUN/thrift.pid" && hbase_ready; then
    say "hbase thrift ready (pid $(cat "$HB_RUN/thrift.pid")): $HOST:$THRIFT_PORT"
  else
    say "hbase thrift not ready"; return 1
  fi
}

hbase_status() {
  local rc=0
  for name in master thrift; do
    if alive "$HB_RUN/$name.pid"; then
      say "hbase $name running (pid $(cat "$HB_RUN/$name.pid"))"
    else
      say "hbase $name not running"; rc=1
    fi
  done
  if [ "$rc" = 0 ] && hbase_ready; then
    say "hbase ready: thrift $HOST:$THRIFT_PORT, zookeeper $HOST:$ZK_PORT"
  else
    rc=1
  fi
  return "$rc"
}

# --------------------------------------------------------------- PostgreSQL
pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; as root: apt-get install -y postgresql"
    say "installing PostgreSQL (apt-get install -y postgresql)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } \
      || die "apt-get install postgresql failed"
    d="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$d"
}

as_pg() { # run a command as the cluster owner (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then
    runuser -u "${NTL_PG_OS_USER:-postgres}" -- "$@"
  else
    "$@"
  fi
}

pg_psql() { # sql -> runs as the superuser over the private socket
  as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -d postgres -tA -c "$1"
}

pg_start() {
  PGBIN="$(pg_bin)"
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    id "${NTL_PG_OS_USER:-postgres}" >/dev/null 2>&1 || die "OS user ${NTL_PG_OS_USER:-postgres} missing (set NTL_PG_OS_USER)"
    chown "${NTL_PG_OS_USER:-postgres}" "$PG_DIR"
  fi
  as_pg mkdir -p "$PG_RUN"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $PG_DATA"
    as_pg "$PGBIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  if as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "postgres already running"
  else
    claim_port PG_PORT
    as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" \
      -o "-c listen_addresses=$HOST -p $PG_PORT -k $PG_RUN -c max_connections=50 -c shared_buffers=128MB" \
      start >/dev/null \
      || { tail -30 "$PG_LOG" >&2; die "postgres did not start within ${TIMEOUT}s (log: $PG_LOG)"; }
  fi
  # Role and database: created once, password re-set on every start from the environment.
  local pw="${PG_PASSWORD//\'/\'\'}"
  if [ "$(pg_psql "select 1 from pg_roles where rolname = '$PG_USER'")" != 1 ]; then
    pg_psql "create role $PG_USER login password '$pw'"
  else
    pg_psql "alter role $PG_USER login password '$pw'"
  fi
  if [ "$(pg_psql "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]; then
    pg_psql "create database $PG_DB owner $PG_USER"
  fi
  # The web console's own database (console/); CREATEDB lets its tests create their test database.
  pg_psql "alter role $PG_USER createdb"
  if [ "$(pg_psql "select 1 from pg_database where datname = '$PG_CONSOLE_DB'")" != 1 ]; then
    pg_psql "create database $PG_CONSOLE_DB owner $PG_USER"
  fi
  say "postgres ready: $HOST:$PG_PORT database $PG_DB user $PG_USER (jdbc:postgresql://$HOST:$PG_PORT/$PG_DB)"
}

pg_stop() {
  PGBIN="$(pg_bin)"
  if [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    say "postgres stopped"
  else
    say "postgres not running"
  fi
}

pg_status() {
  PGBIN="$(pg_bin)"
  if [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 \
     && as_pg "$PGBIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"; then
    say "postgres ready: $HOST:$PG_PORT database $PG_DB user $PG_USER"
  else
    say "postgres not running"; return 1
  fi
}

# --------------------------------------------------------------------- HDFS
hdfs_jars() {
  if compgen -G "$HD_LIB/hadoop-hdfs-3*.jar" >/dev/null && [ "$HD_LIB/.stamp" -nt "$REPO/jvm/hdfs/pom.xml" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: install Maven to resolve the HDFS jars (jvm/hdfs/pom.xml)"
  say "resolving HDFS jars with mvn into $HD_LIB"
  mkdir -p "$HD_DIR"
  rm -rf "$HD_LIB" && mkdir -p "$HD_LIB"
  mvn -q -B -f "$REPO/jvm/hdfs/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$HD_LIB" >"$HD_DIR/mvn.log" 2>&1 \
    || { tail -20 "$HD_DIR/mvn.log" >&2; die "mvn could not resolve jvm/hdfs/pom.xml (log: $HD_DIR/mvn.log)"; }
  touch "$HD_LIB/.stamp"
}

hdfs_conf() {
  mkdir -p "$HD_CONF" "$HD_LOGS" "$HD_RUN" "$HD_DIR/name" "$HD_DIR/data" "$HD_DIR/tmp"
  # The web UIs' resources ship in the binary tarball, not in the Maven jars; the
  # servers only need the folders to exist on the classpath (no UI pages served).
  mkdir -p "$HD_CONF/webapps/hdfs/WEB-INF" "$HD_CONF/webapps/datanode/WEB-INF" "$HD_CONF/webapps/static"
  cat >"$HD_CONF/core-site.xml" <<XML
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh: a one-node HDFS bound to $HOST. -->
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://$HOST:$HDFS_PORT</value></property>
  <property><name>hadoop.tmp.dir</name><value>$HD_DIR/tmp</value></property>
</configuration>
XML
  # HTTP and DataNode ports 0: the kernel picks free ones (nothing here needs them fixed).
  cat >"$HD_CONF/hdfs-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>dfs.namenode.name.dir</name><value>file://$HD_DIR/name</value></property>
  <property><name>dfs.datanode.data.dir</name><value>file://$HD_DIR/data</value></property>
  <property><name>dfs.replication</name><value>1</value></property>
  <property><name>dfs.permissions.enabled</name><value>false</value></property>
  <property><name>dfs.namenode.rpc-bind-host</name><value>$HOST</value></property>
  <property><name>dfs.namenode.http-address</name><value>$HOST:0</value></property>
  <property><name>dfs.namenode.secondary.http-address</name><value>$HOST:0</value></property>
  <property><name>dfs.datanode.address</name><value>$HOST:0</value></property>
  <property><name>dfs.datanode.http.address</name><value>$HOST:0</value></property>
  <property><name>dfs.datanode.ipc.address</name><value>$HOST:0</value></property>
  <property><name>dfs.datanode.hostname</name><value>$HOST</value></property>
  <property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
  <property><name>dfs.namenode.safemode.min.datanodes</name><value>1</value></property>
  <property><name>dfs.heartbeat.interval</name><value>1</value></property>
  <property><name>dfs.namenode.heartbeat.recheck-interval</name><value>10000</value></property>
  <!-- a single DataNode: never try to replace it in a write pipeline -->
  <property><name>dfs.client.block.write.replace-datanode-on-failure.enable</name><value>false</value></property>
</configuration>
XML
  cat >"$HD_CONF/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO,file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${hadoop.log.dir}/${hadoop.log.file}
log4j.appender.file.MaxFileSize=64MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{2}: %m%n
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
PROPS
}

hdfs_java() { # name heap main-class args... (foreground)
  local name="$1" heap="$2" main="$3"; shift 3
  # shellcheck disable=SC2046
  java -Xms64m "-Xmx$heap" $(java_opts) \
    -Dhadoop.log.dir="$HD_LOGS" -Dhadoop.log.file="hdfs-$name.log" -Dhadoop.home.dir="$HD_DIR" \
    -Djava.io.tmpdir="$HD_DIR/tmp" -cp "$HD_CONF:$HD_LIB/*" "$main" "$@"
}

hdfs_launch() { # name main-class args...
  local name="$1" main="$2"; shift 2
  # shellcheck disable=SC2046
  nohup java -Xms64m -Xmx512m $(java_opts) \
    -Dhadoop.log.dir="$HD_LOGS" -Dhadoop.log.file="hdfs-$name.log" -Dhadoop.home.dir="$HD_DIR" \
    -Djava.io.tmpdir="$HD_DIR/tmp" -cp "$HD_CONF:$HD_LIB/*" "$main" "$@" >"$HD_LOGS/$name.out" 2>&1 </dev/null &
  echo $! >"$HD_RUN/$name.pid"
}

hdfs_ready() { # the NameNode out of safe mode with a live DataNode
  hdfs_java report 256m org.apache.hadoop.hdfs.tools.DFSAdmin -report -live 2>/dev/null \
    | grep -q '^Live datanodes (1)'
}

hdfs_start() {
  command -v java >/dev/null || die "java not found (HDFS needs Java 11+)"
  hdfs_jars
  if alive "$HD_RUN/namenode.pid"; then
    hdfs_conf
    say "hdfs namenode already running (pid $(cat "$HD_RUN/namenode.pid"))"
  else
    claim_port HDFS_PORT
    hdfs_conf
    if [ ! -f "$HD_DIR/name/current/VERSION" ]; then
      say "formatting HDFS in $HD_DIR/name"
      hdfs_java format 256m org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive -force \
        >"$HD_LOGS/format.out" 2>&1 || { tail -20 "$HD_LOGS/format.out" >&2; die "namenode -format failed"; }
      rm -rf "$HD_DIR/data" && mkdir -p "$HD_DIR/data"  # the DataNode joins the new cluster id
    fi
    hdfs_launch namenode org.apache.hadoop.hdfs.server.namenode.NameNode
    say "hdfs namenode starting (pid $(cat "$HD_RUN/namenode.pid"), log $HD_LOGS/hdfs-namenode.log)"
  fi
  if alive "$HD_RUN/datanode.pid"; then
    say "hdfs datanode already running (pid $(cat "$HD_RUN/datanode.pid"))"
  else
    hdfs_launch datanode org.apache.hadoop.hdfs.server.datanode.DataNode
    say "hdfs datanode starting (pid $(cat "$HD_RUN/datanode.pid"), log $HD_LOGS/hdfs-datanode.log)"
  fi
  local waited=0
  until hdfs_ready; do
    for name in namenode datanode; do
      if ! alive "$HD_RUN/$name.pid"; then
        tail -30 "$HD_LOGS/$name.out" "$HD_LOGS/hdfs-$name.log" >&2 2>/dev/null || true
        die "hdfs $name exited during start-up (logs above, $HD_LOGS)"
      fi
    done
    [ "$waited" -lt "$TIMEOUT" ] || die "hdfs not ready after ${TIMEOUT}s (logs: $HD_LOGS)"
    sleep 2; waited=$((waited + 4))  # each check starts a JVM (~2 s)
  done
  say "hdfs ready: hdfs://$HOST:$HDFS_PORT (conf $HD_CONF)"
}

hdfs_stop() {
  stop_pid "$HD_RUN/datanode.pid" "hdfs datanode"
  stop_pid "$HD_RUN/namenode.pid" "hdfs namenode"
}

hdfs_status() {
  local rc=0 name
  for name in namenode datanode; do
    if alive "$HD_RUN/$name.pid"; then say "hdfs $name running (pid $(cat "$HD_RUN/$name.pid"))"
    else say "hdfs $name not running"; rc=1; fi
  done
  if [ "$rc" = 0 ] && hdfs_ready; then say "hdfs ready: hdfs://$HOST:$HDFS_PORT"; else rc=1; fi
  return "$rc"
}

# --------------------------------------------------------- Spark standalone
spark_home() { # pyspark's own distribution: bin/spark-class and jars/
  local home
  home="$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)" \
    || die "pyspark not importable from $PY: run scripts/bootstrap.sh"
  [ -x "$home/bin/spark-class" ] || die "no bin/spark-class in $home"
  echo "$home"
}

# Each executor unpacks the jobs' environment archive (spark.archives) into a folder of its own, about
# 0.7 GB, kept until its application ends; a worker deletes the folders of applications ended an hour ago.
SP_WORKER_CLEANUP="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=600 -Dspark.worker.cleanup.appDataTtl=3600"
spark_launch() { # name main-class args...
  local name="$1" main="$2"; shift 2
  mkdir -p "$SP_DIR/logs" "$SP_DIR/run" "$SP_DIR/work/$name" "$SP_DIR/conf"
  # spark-class execs the JVM: the pid recorded is the daemon's own
  SPARK_HOME="$SPARK_HOME" SPARK_CONF_DIR="$SP_DIR/conf" SPARK_LOCAL_IP="$HOST" SPARK_DAEMON_MEMORY=512m \
    SPARK_WORKER_DIR="$SP_DIR/work/$name" SPARK_LOCAL_DIRS="$SP_DIR/work/$name" \
    SPARK_WORKER_OPTS="$SP_WORKER_CLEANUP" \
    nohup "$SPARK_HOME/bin/spark-class" "$main" "$@" >"$SP_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$SP_DIR/run/$name.pid"
}

spark_ready() { # every worker registered with the master
  local i
  for i in $(seq 1 "$SP_WORKERS"); do
    alive "$SP_DIR/run/worker$i.pid" && grep -q "Successfully registered with master" "$SP_DIR/logs/worker$i.log" \
      || return 1
  done
}

spark_start() {
  command -v java >/dev/null || die "java not found (Spark needs Java 17)"
  SPARK_HOME="$(spark_home)"
  local i
  if alive "$SP_DIR/run/master.pid"; then
    say "spark master already running (pid $(cat "$SP_DIR/run/master.pid"))"
  else
    claim_port SPARK_PORT
    spark_launch master org.apache.spark.deploy.master.Master --host "$HOST" --port "$SPARK_PORT" --webui-port 0
    say "spark master starting (pid $(cat "$SP_DIR/run/master.pid"), log $SP_DIR/logs/master.log)"
  fi
  for i in $(seq 1 "$SP_WORKERS"); do
    if alive "$SP_DIR/run/worker$i.pid"; then
      say "spark worker$i already running (pid $(cat "$SP_DIR/run/worker$i.pid"))"
    else
      spark_launch "worker$i" org.apache.spark.deploy.worker.Worker --host "$HOST" --webui-port 0 \
        --cores 1 --memory "$SP_WORKER_MEMORY" --work-dir "$SP_DIR/work/worker$i" "spark://$HOST:$SPARK_PORT"
    fi
  done
  local waited=0
  until spark_ready; do
    for name in master $(seq -f worker%g 1 "$SP_WORKERS"); do
      alive "$SP_DIR/run/$name.pid" || { tail -30 "$SP_DIR/logs/$name.log" >&2; die "spark $name exited during start-up"; }
    done
    [ "$waited" -lt "$TIMEOUT" ] || { tail -20 "$SP_DIR"/logs/*.log >&2; die "spark not ready after ${TIMEOUT}s"; }
    sleep 1; waited=$((waited + 1))
  done
  say "spark ready: spark://$HOST:$SPARK_PORT, $SP_WORKERS workers x 1 core x $SP_WORKER_MEMORY (logs $SP_DIR/logs)"
}

spark_stop() {
  local i
  for i in $(seq 1 "$SP_WORKERS"); do stop_pid "$SP_DIR/run/worker$i.pid" "spark worker$i"; done
  stop_pid "$SP_DIR/run/master.pid" "spark master"
}

spark_status() {
  local rc=0 name
  for name in master $(seq -f worker%g 1 "$SP_WORKERS"); do
    if alive "$SP_DIR/run/$name.pid"; then say "spark $name running (pid $(cat "$SP_DIR/run/$name.pid"))"
    else say "spark $name not running"; rc=1; fi
  done
  if [ "$rc" = 0 ] && spark_ready; then say "spark ready: spark://$HOST:$SPARK_PORT"; else rc=1; fi
  return "$rc"
}

# ------------------------------------------------------------ MLflow server
mlflow_ready() {
  "$PY" -c 'import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/health", timeout=3).read()' "$HOST" "$MLFLOW_PORT" \
    >/dev/null 2>&1
}

mlflow_start() {
  [ -x "$REPO/.venv/bin/mlflow" ] || die "no .venv/bin/mlflow: run scripts/bootstrap.sh"
  pg_status >/dev/null 2>&1 || die "postgres not running: scripts/services.sh start postgres"
  PGBIN="$(pg_bin)"
  if [ "$(pg_psql "select 1 from pg_database where datname = '$ML_DB'")" != 1 ]; then
    pg_psql "create database $ML_DB owner $PG_USER"
  fi
  mkdir -p "$ML_DIR/artifacts" "$ML_DIR/run"
  if alive "$ML_DIR/run/mlflow.pid"; then
    say "mlflow server already running (pid $(cat "$ML_DIR/run/mlflow.pid"))"
  else
    claim_port MLFLOW_PORT
    # its own session: `mlflow server` runs uvicorn as a child, stopped with the group
    MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$ML_DB" \
      setsid nohup "$REPO/.venv/bin/mlflow" server --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
      --serve-artifacts --artifacts-destination "$ML_DIR/artifacts" >"$ML_DIR/server.log" 2>&1 </dev/null &
    echo $! >"$ML_DIR/run/mlflow.pid"
    say "mlflow server starting (pid $(cat "$ML_DIR/run/mlflow.pid"), log $ML_DIR/server.log)"
  fi
  local waited=0
  until mlflow_ready; do
    alive "$ML_DIR/run/mlflow.pid" || { tail -30 "$ML_DIR/server.log" >&2; die "mlflow server exited during start-up"; }
    [ "$waited" -lt "$TIMEOUT" ] || { tail -30 "$ML_DIR/server.log" >&2; die "mlflow server not ready after ${TIMEOUT}s"; }
    sleep 1; waited=$((waited + 1))
  done
  say "mlflow ready: http://$HOST:$MLFLOW_PORT (backend postgresql database $ML_DB, artifacts $ML_DIR/artifacts)"
}

mlflow_stop() {
  local pidfile="$ML_DIR/run/mlflow.pid" pid i
  if ! alive "$pidfile"; then rm -f "$pidfile"; say "mlflow server not running"; return 0; fi
  pid="$(cat "$pidfile")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do
    kill -0 -- "-$pid" 2>/dev/null || { rm -f "$pidfile"; say "mlflow server stopped"; return 0; }
    sleep 0.5
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "mlflow server killed after 20 s"
}

mlflow_status() {
  if alive "$ML_DIR/run/mlflow.pid" && mlflow_ready; then
    say "mlflow ready (pid $(cat "$ML_DIR/run/mlflow.pid")): http://$HOST:$MLFLOW_PORT"
  else
    say "mlflow server not ready"; return 1
  fi
}

# ------------------------------------------------------------------ Kerberos
kdc_conf() {
  mkdir -p "$KDC_DIR/db" "$KDC_DIR/run"
  cat >"$KDC_DIR/krb5.conf" <<EOF
# Generated by scripts/services.sh: clients of the local KDC (KRB5_CONFIG, java.security.krb5.conf).
[libdefaults]
  default_realm = $REALM
  dns_lookup_realm = false
  dns_lookup_kdc = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  ticket_lifetime = 24h
  renew_lifetime = 7d
  forwardable = true
[realms]
  $REALM = {
    kdc = $HOST:$KDC_PORT
  }
[domain_realm]
  $HOST = $REALM
  localhost = $REALM
EOF
  cat >"$KDC_DIR/kdc.conf" <<EOF
# Generated by scripts/services.sh: the local KDC (KRB5_KDC_PROFILE), UDP and TCP on one port.
[kdcdefaults]
  kdc_listen = $HOST:$KDC_PORT
  kdc_tcp_listen = $HOST:$KDC_PORT
[realms]
  $REALM = {
    database_name = $KDC_DIR/db/principal
    key_stash_file = $KDC_DIR/db/stash
    acl_file = $KDC_DIR/db/kadm5.acl
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    max_life = 24h
    max_renewable_life = 7d
  }
[logging]
  kdc = FILE:$KDC_DIR/kdc.log
EOF
}

kdc_env() { KRB5_CONFIG="$KDC_DIR/krb5.conf" KRB5_KDC_PROFILE="$KDC_DIR/kdc.conf" "$@"; }

kdc_ready() { # the client principal gets a ticket from the KDC
  kdc_env env KRB5CCNAME="FILE:$KDC_DIR/run/probe.cc" kinit -k -t "$KDC_DIR/ntl.keytab" "$CLIENT_PRINCIPAL" \
    >/dev/null 2>&1 && rm -f "$KDC_DIR/run/probe.cc"
}

kdc_start() {
  command -v krb5kdc >/dev/null && command -v kadmin.local >/dev/null \
    || die "krb5kdc not found: install the Debian packages krb5-kdc, krb5-admin-server and krb5-user"
  if alive "$KDC_DIR/run/kdc.pid"; then
    kdc_conf
    say "kdc already running (pid $(cat "$KDC_DIR/run/kdc.pid"))"
  else
    claim_port KDC_PORT
    kdc_conf
    if [ ! -f "$KDC_DIR/db/principal" ]; then
      # a throw-away master key: the database holds only this machine's test principals
      kdc_env kdb5_util create -s -r "$REALM" -P "$(head -c 24 /dev/urandom | base64)" >"$KDC_DIR/create.log" 2>&1 \
        || { cat "$KDC_DIR/create.log" >&2; die "kdb5_util could not create the realm $REALM"; }
    fi
    nohup env KRB5_CONFIG="$KDC_DIR/krb5.conf" KRB5_KDC_PROFILE="$KDC_DIR/kdc.conf" \
      krb5kdc -n -r "$REALM" >"$KDC_DIR/kdc.out" 2>&1 </dev/null &
    echo $! >"$KDC_DIR/run/kdc.pid"
    say "kdc starting (pid $(cat "$KDC_DIR/run/kdc.pid"), log $KDC_DIR/kdc.log)"
  fi
  local p kt
  for p in "$HB_PRINCIPAL" "$CLIENT_PRINCIPAL"; do
    case "$p" in hbase/*) kt="$KDC_DIR/hbase.keytab" ;; *) kt="$KDC_DIR/ntl.keytab" ;; esac
    [ -s "$kt" ] && continue  # keys stay: a second ktadd would change them under running servers
    kdc_env kadmin.local -q "addprinc -randkey $p" >>"$KDC_DIR/create.log" 2>&1
    kdc_env kadmin.local -q "ktadd -k $kt $p" >>"$KDC_DIR/create.log" 2>&1 \
      || { cat "$KDC_DIR/create.log" >&2; die "kadmin.local could not write the keytab of $p"; }
  done
  local waited=0
  until kdc_ready; do
    alive "$KDC_DIR/run/kdc.pid" || { tail -20 "$KDC_DIR/kdc.out" "$KDC_DIR/kdc.log" >&2 2>/dev/null; die "kdc exited during start-up"; }
    [ "$waited" -lt "$TIMEOUT" ] || { tail -20 "$KDC_DIR/kdc.log" >&2; die "kdc not ready after ${TIMEOUT}s"; }
    sleep 1; waited=$((waited + 1))
  done
  say "kdc ready: realm $REALM at $HOST:$KDC_PORT (krb5.conf $KDC_DIR/krb5.conf, keytabs $KDC_DIR/*.keytab)"
}

kdc_stop() { stop_pid "$KDC_DIR/run/kdc.pid" "kdc"; }

kdc_status() {
  if alive "$KDC_DIR/run/kdc.pid" && kdc_ready; then
    say "kdc ready (pid $(cat "$KDC_DIR/run/kdc.pid")): realm $REALM at $HOST:$KDC_PORT"
  else
    say "kdc not ready"; return 1
  fi
}

# ------------------------------------------------------------------ cluster
cluster_start() { pg_start; hdfs_start; spark_start; mlflow_start; }
cluster_stop() { mlflow_stop; spark_stop; hdfs_stop; }  # postgres may serve `all` too: stop it by name
cluster_status() {
  local rc=0
  pg_status || rc=1; hdfs_status || rc=1; spark_status || rc=1; mlflow_status || rc=1
  return "$rc"
}

# --------------------------------------------------------------------- ports
ports() { # claim ports for the servers that are not running; record and print them
  PGBIN="$(pg_bin)"
  if ! { [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }; then
    claim_port PG_PORT
  fi
  alive "$HB_RUN/master.pid" || { claim_port ZK_PORT; claim_port MASTER_PORT; claim_port RS_PORT; }
  alive "$HB_RUN/thrift.pid" || claim_port THRIFT_PORT
  alive "$HD_RUN/namenode.pid" || claim_port HDFS_PORT
  alive "$SP_DIR/run/master.pid" || claim_port SPARK_PORT
  alive "$ML_DIR/run/mlflow.pid" || claim_port MLFLOW_PORT
  alive "$KDC_DIR/run/kdc.pid" || claim_port KDC_PORT
  write_env
  grep -v '^#' "$ENV_FILE"
}

# --------------------------------------------------------------------- main
cmd="${1:-}"; what="${2:-all}"
case "$what" in hbase|thrift|postgres|hdfs|spark|mlflow|cluster|kdc|all) ;;
  *) die "unknown service '$what' (hbase, thrift, postgres, hdfs, spark, mlflow, cluster, kdc or all)";; esac
run() { # action
  local rc=0
  case "$what" in
    hbase) "hbase_$1" || rc=$? ;;
    thrift) "thrift_$1" || rc=$? ;;
    postgres) "pg_$1" || rc=$? ;;
    hdfs|spark|mlflow|cluster|kdc) "${what}_$1" || rc=$? ;;
    all) "pg_$1" || rc=$?; "hbase_$1" || rc=$? ;;
  esac
  return "$rc"
}
case "$cmd" in
  start) run start; write_env ;;
  stop) run stop ;;
  status) run status ;;
  restart) run stop; run start; write_env ;;
  ports) ports ;;
  overrides) echo "--set hbase.host=$HOST --set hbase.port=$THRIFT_PORT --set jdbc.url=jdbc:postgresql://$HOST:$PG_PORT/$PG_DB" ;;
  *) echo "usage: $0 start|stop|status|restart [hbase|thrift|postgres|hdfs|spark|mlflow|cluster|kdc|all] | ports | overrides" >&2
     exit 2 ;;
esac
