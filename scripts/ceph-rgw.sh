#!/usr/bin/env bash
# Throw-away single-node Ceph RADOS Gateway on loopback, for the s3sync test suite.
#
#   scripts/ceph-rgw.sh start    install Ceph if missing, start the gateway, print env lines
#   scripts/ceph-rgw.sh env      print the env lines of the running gateway
#   scripts/ceph-rgw.sh status   show daemons, PIDs and RSS (exit 0 up, 3 down, 1 broken)
#   scripts/ceph-rgw.sh stop     stop the daemons and delete the cluster directory
#
#   eval "$(scripts/ceph-rgw.sh start)"   # then run pytest
#
# Settings: S3SYNC_CEPH_DIR (default /tmp/s3sync-ceph), S3SYNC_CEPH_PORT (default 7480).
# Needs root and Debian 12 (Ceph 16.2 "pacific" from Debian's own archive).
#
# Layout: one mon, one memstore OSD, one radosgw; no mgr, because nothing on the
# S3 path uses it (RGW talks to the mon and the OSD only; without a mgr `ceph -s`
# just shows PG states as unknown and warns "no active mgr"), and it would cost
# about 300 MiB of RAM. Only one such cluster can run per machine: the mon sits
# on Ceph's default ports 3300/6789, and an OSD started against a second cluster
# registers with whichever mon answers there, so start refuses if they are taken.
set -euo pipefail

readonly DIR="${S3SYNC_CEPH_DIR:-/tmp/s3sync-ceph}"
readonly PORT="${S3SYNC_CEPH_PORT:-7480}"
# Fixed test credentials: the cluster is private to loopback and thrown away,
# and fixed keys let a test config be written before the gateway exists.
readonly ACCESS_KEY="s3sync-test-access"
readonly SECRET_KEY="s3sync-test-secret"
readonly MON_PORTS=(3300 6789)
readonly PACKAGES=(radosgw ceph-mon ceph-osd ceph-mgr)
# Memstore keeps every object in RAM; the device size is only the capacity the
# OSD reports (writes fail once it is nearly full), and RAM is used as data is
# written, not up front. Test data sets are small; a few GB would need bluestore.
readonly MEMSTORE_BYTES=$((3 * 1024 * 1024 * 1024))
readonly RGW_POOLS=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log
    default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)
# radosgw hangs on SIGTERM for 15 s or more when the OSD disappears under it,
# and an OSD whose mon is gone waits 5 s to report its shutdown: stop top down.
readonly STOP_ORDER=(rgw osd mgr mon)
# No mgr is started (see the top); its slot keeps the order right should one be added.
declare -rA EXE=([mon]=ceph-mon [mgr]=ceph-mgr [osd]=ceph-osd [rgw]=radosgw)
declare -rA CEPH_NAME=([mon]=mon.a [mgr]=mgr.x [osd]=osd.0 [rgw]=client.rgw.gw)
# A file of ours in DIR, so that stop never deletes a directory it did not create.
readonly MARKER="$DIR/.s3sync-ceph"
readonly CONF="$DIR/ceph.conf"

T0=$(date +%s.%N)

log() { printf 'ceph-rgw: %s\n' "$*" >&2; }

elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Print the end of a log to explain a failure, then exit non-zero.
die() {
    local msg=$1
    shift
    log "ERROR: $msg"
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

pid_of() { # name -> PID if that daemon of ours is alive
    local name=$1 pid
    [[ -r $DIR/pids/$name ]] || return 1
    pid=$(<"$DIR/pids/$name")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # Check the executable too: after a reboot or a long time the PID may belong
    # to some other process, which must never be signalled.
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${EXE[$name]:0:15}" ]] || return 1
    alive "$pid" || return 1
    echo "$pid"
}

# kill -0 is not enough: a killed daemon stays a zombie until init reaps it,
# and not every container's PID 1 does that promptly.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

is_running() { pid_of mon >/dev/null && pid_of osd >/dev/null && pid_of rgw >/dev/null; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Does the gateway answer HTTP at all? Any status line will do (anonymous GET / gives 200).
http_answers() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        IFS= read -r line <&3 && [[ $line == HTTP/* ]]' _ "$1" 2>/dev/null
}

print_env() {
    local port
    port=$(cat "$DIR/port" 2>/dev/null || echo "$PORT")
    printf 'export S3SYNC_TEST_ENDPOINT=http://127.0.0.1:%s\n' "$port"
    printf 'export S3SYNC_TEST_ACCESS_KEY=%s\n' "$ACCESS_KEY"
    printf 'export S3SYNC_TEST_SECRET_KEY=%s\n' "$SECRET_KEY"
}

ceph_cli() { timeout 30 ceph --connect-timeout 10 "$@"; }

# Run a daemon in the foreground (-f keeps it from forking, so the PID we record
# is the daemon's), in its own session so that neither the CI shell exiting nor
# Ctrl-C in it reaches the daemon, with its output in a file, not the terminal.
# Every other inherited fd is closed: a daemon holding our lock fd would block
# every later call, and one holding a caller's pipe (`start 5>&1 | cat`,
# `$(...)` in CI) would keep that caller waiting for EOF for ever.
spawn() {
    local name=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c '
        for fd in /proc/$$/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then eval "exec $fd>&-"; fi
        done 2>/dev/null
        echo $$ >"$1"
        shift
        exec "$@"' _ "$DIR/pids/$name" \
        "$@" -f -c "$CONF" </dev/null >>"$DIR/log/$name.out" 2>&1 &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $DIR/pids/$name ]] && return 0
        sleep 0.1
    done
    die "$name did not start" "$DIR/log/$name.out"
}

# wait_for NAME SECONDS COMMAND...: poll COMMAND until it succeeds; fail if the
# daemon NAME dies or time runs out, showing its log.
wait_for() {
    local name=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    local logs=("$DIR/log/$name.out" "$DIR/log/${CEPH_NAME[$name]}.log")
    while ! "$@" >/dev/null 2>&1; do
        pid_of "$name" >/dev/null || die "$name exited during start" "${logs[@]}"
        ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $name" "${logs[@]}"
        sleep 0.1
    done
}

packages_missing() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
    done
    return 1
}

install_packages() {
    packages_missing || return 0
    local t
    t=$(date +%s)
    log "installing ${PACKAGES[*]} (about 70 MB download, 290 MB on disk)"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for, rather than fail on, another apt/dpkg run holding the lock.
    local -a apt=(apt-get -o DPkg::Lock::Timeout=300)
    local lists=(/var/lib/apt/lists/*_Packages*)
    # A fresh image often has no package lists, or stale ones whose .debs are
    # gone from the mirror; only then is the slow `apt-get update` worth it.
    if [[ ! -e ${lists[0]} ]] \
        || ! "${apt[@]}" install -y --no-install-recommends "${PACKAGES[@]}" >"/tmp/s3sync-ceph-apt.log" 2>&1; then
        "${apt[@]}" update >"/tmp/s3sync-ceph-apt.log" 2>&1 \
            || die "apt-get update failed" /tmp/s3sync-ceph-apt.log
        "${apt[@]}" install -y --no-install-recommends "${PACKAGES[@]}" >>"/tmp/s3sync-ceph-apt.log" 2>&1 \
            || die "apt-get install failed" /tmp/s3sync-ceph-apt.log
    fi
    log "packages installed in $(($(date +%s) - t))s"
}

write_conf() {
    local fsid=$1
    # $name and $id are Ceph's own metavariables, expanded per daemon.
    cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# Nothing but loopback can reach this cluster; S3 requests are still fully
# authenticated by RGW (SigV4/V2, presigned expiry, ACLs).
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
# One OSD: replicas of 1, spread over OSDs (type 0), not hosts.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false

[mon]
mon data = $DIR/mon.\$id
# Each pool creation otherwise waits a full paxos round of one second.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $DIR/osd.\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES

[client.rgw.gw]
rgw frontends = beast endpoint=127.0.0.1:$(cat "$DIR/port")
rgw data = $DIR/rgw
# Without it radosgw never connects to a mon running with auth none
# (its log repeats "get_initial_auth_request returned -13").
ms mon client mode = crc secure
# Deleted objects' tails are collected after 60 s instead of 2 h, which keeps a
# long test run's memory bounded on memstore.
rgw gc obj min wait = 60
EOF
}

# Stop the daemons we recorded, in dependency order; TERM, then KILL after a grace period.
stop_daemons() {
    local name pid i
    for name in "${STOP_ORDER[@]}"; do
        pid=$(pid_of "$name") || continue
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do # 20 s
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for 20s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
        fi
    done
}

remove_dir() {
    [[ -e $DIR ]] || return 0
    [[ -e $MARKER ]] || die "$DIR exists but was not created by this script; not deleting it"
    rm -rf -- "$DIR"
}

bootstrap() {
    local fsid osd_uuid osd_id
    fsid=$(</proc/sys/kernel/random/uuid)
    osd_uuid=$(</proc/sys/kernel/random/uuid)
    mkdir -p "$DIR"/{pids,log,run,rgw,osd.0}
    touch "$MARKER"
    echo "$PORT" >"$DIR/port"
    write_conf "$fsid"
    export CEPH_CONF=$CONF

    # No keyring at all: with auth none neither mkfs nor any daemon needs one.
    {
        monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$DIR/monmap"
        ceph-mon --mkfs -c "$CONF" -i a --monmap "$DIR/monmap"
    } >>"$DIR/log/mkfs.out" 2>&1 || die "mon mkfs failed" "$DIR/log/mkfs.out"

    spawn mon ceph-mon -i a
    wait_for mon 30 ceph_cli mon stat

    osd_id=$(ceph_cli osd new "$osd_uuid" 2>>"$DIR/log/mkfs.out") \
        || die "ceph osd new failed" "$DIR/log/mkfs.out"
    [[ $osd_id == 0 ]] || die "expected OSD id 0, got '$osd_id' (another cluster's mon?)"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/mkfs.out" 2>&1 \
        || die "osd mkfs failed" "$DIR/log/mkfs.out" "$DIR/log/osd.0.log"
    spawn osd ceph-osd -i 0
    wait_for osd 60 osd_up

    # RGW would create its pools lazily otherwise, and early requests would then
    # take seconds each. One python process instead of 14 `ceph` CLI runs.
    /usr/bin/python3 - "$CONF" "${RGW_POOLS[@]}" >>"$DIR/log/mkfs.out" 2>&1 <<'EOF' \
        || die "creating the RGW pools failed" "$DIR/log/mkfs.out"
import json, sys, rados
cluster = rados.Rados(conffile=sys.argv[1])
cluster.connect(timeout=10)
def mon(**cmd):
    ret, _, err = cluster.mon_command(json.dumps(cmd), b"")
    if ret != 0:
        sys.exit(f"{cmd}: {ret} {err}")
for pool in sys.argv[2:]:
    mon(prefix="osd pool create", pool=pool, pg_num=8, pgp_num=8)
    mon(prefix="osd pool application enable", pool=pool, app="rgw")
cluster.shutdown()
EOF

    spawn rgw radosgw -n client.rgw.gw
    wait_for rgw 60 http_answers "$PORT"

    radosgw-admin user create --uid=s3sync-test --display-name="s3sync test" \
        --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$DIR/log/mkfs.out" 2>&1 \
        || die "radosgw-admin user create failed" "$DIR/log/mkfs.out"
}

osd_up() { ceph_cli osd dump | grep -q '^osd\.0 up'; }

# If a start fails half-way, do not leave orphan daemons holding the ports; keep
# the directory so its logs can be read (the next start or stop removes it).
on_start_exit() {
    local rc=$?
    if ((rc != 0)); then
        stop_daemons
        log "start failed; logs kept in $DIR/log (\"$0 stop\" removes them)"
    fi
    exit "$rc"
}

cmd_start() {
    [[ $EUID == 0 ]] || die "must run as root (installs packages, binds ports)"
    if is_running; then
        # Possibly still starting (a concurrent start just finished bootstrap).
        local deadline=$((SECONDS + 30))
        while pid_of rgw >/dev/null && ((SECONDS < deadline)); do
            if http_answers "$(<"$DIR/port")"; then
                print_env
                return 0
            fi
            sleep 0.2
        done
        log "the running gateway does not answer; starting a new one"
    fi
    # Leftovers of a crashed or failed run: clear them before the port check,
    # so our own half-dead daemons are not mistaken for someone else's.
    stop_daemons
    remove_dir
    local p
    for p in "${MON_PORTS[@]}"; do
        port_taken "$p" && die "port $p on 127.0.0.1 is already in use (another Ceph cluster? see 'ss -ltnp')"
    done
    port_taken "$PORT" && die "port $PORT on 127.0.0.1 is already in use; set S3SYNC_CEPH_PORT"

    install_packages
    T0=$(date +%s.%N)
    trap on_start_exit EXIT
    bootstrap
    trap - EXIT
    log "gateway up on 127.0.0.1:$PORT in $(elapsed)s (cluster in $DIR)"
    print_env
}

cmd_stop() {
    [[ -e $DIR ]] || return 0
    stop_daemons
    remove_dir
    log "stopped in $(elapsed)s"
}

cmd_env() {
    is_running || die "not running (start it with: $0 start)"
    print_env
}

cmd_status() {
    local name pid rss total=0 alive=0
    for name in mon osd rgw mgr; do
        if pid=$(pid_of "$name"); then
            rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
            total=$((total + rss))
            alive=$((alive + 1))
            printf '%-4s running  pid %-7s rss %4d MiB\n' "$name" "$pid" $((rss / 1024))
        elif [[ $name != mgr ]]; then
            printf '%-4s stopped\n' "$name"
        fi
    done
    if ((alive == 0)); then
        return 3
    fi
    printf 'total rss %d MiB\n' $((total / 1024))
    if ! is_running || ! http_answers "$(<"$DIR/port")"; then
        return 1
    fi
    printf 'endpoint http://127.0.0.1:%s answers\n' "$(<"$DIR/port")"
}

main() {
    local cmd=${1:-}
    case $cmd in
    start | stop | env | status) ;;
    *)
        echo "usage: $0 start|stop|env|status" >&2
        exit 2
        ;;
    esac
    # Serialise concurrent invocations (say, two CI steps): they would otherwise
    # race to bootstrap the same directory and ports.
    exec 9>"${DIR%/}.lock"
    flock 9
    "cmd_$cmd"
}

main "$@"
