#!/usr/bin/env bash
# End-to-end check with a real Prometheus: the demo exporter is scraped, the recording and
# alerting rules of deploy/prometheus/rules/ are loaded and evaluated, and the results are
# queried through the HTTP API.
#
# Needs on PATH: prometheus, promtool, curl (Debian: apt-get install -y prometheus curl).
# Environment:
#   ECS_EXPORTER_BIN     the exporter binary (default: target/release/ecs-exporter)
#   E2E_EXPORTER_PORT    port for the exporter (default 19779)
#   E2E_PROMETHEUS_PORT  port for Prometheus (default 19090)
#   E2E_TIMEOUT          seconds to wait for each condition (default 60)
# Everything listens on 127.0.0.1 only, and everything started here is stopped on exit.
# Prints one line "e2e: PASS" or "e2e: FAIL: <reason>" at the end; exit status 0 or 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${ECS_EXPORTER_BIN:-$root/target/release/ecs-exporter}"
exporter_port="${E2E_EXPORTER_PORT:-19779}"
prom_port="${E2E_PROMETHEUS_PORT:-19090}"
timeout_s="${E2E_TIMEOUT:-60}"
prom_url="http://127.0.0.1:$prom_port"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ecs-exporter-e2e.XXXXXX")"
exporter_pid=""
prom_pid=""

stop() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop "$prom_pid"
    stop "$exporter_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    local log
    for log in exporter prometheus; do
        if [ -s "$tmp/$log.log" ]; then
            echo "--- $log log (last 20 lines) ---" >&2
            tail -n 20 "$tmp/$log.log" >&2
        fi
    done
    echo "e2e: FAIL: $*"
    exit 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for DESCRIPTION COMMAND...: run COMMAND every 0.5 s until it succeeds, at most
# $timeout_s seconds.
wait_for() {
    local what="$1"
    shift
    local deadline=$((SECONDS + timeout_s))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "timed out after ${timeout_s}s waiting for $what"
        fi
        sleep 0.5
    done
    echo "e2e: ok: $what"
}

# --- preconditions --------------------------------------------------------------------------
for tool in prometheus promtool curl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not on PATH (Debian: apt-get install -y prometheus curl)"
done
[ -x "$bin" ] || fail "no exporter binary at $bin (cargo build --release, or set ECS_EXPORTER_BIN)"
port_in_use "$exporter_port" && fail "port $exporter_port is in use (set E2E_EXPORTER_PORT)"
port_in_use "$prom_port" && fail "port $prom_port is in use (set E2E_PROMETHEUS_PORT)"

# --- the exporter -----------------------------------------------------------------------------
"$bin" --demo --web.listen-address "127.0.0.1:$exporter_port" >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!

exporter_healthy() {
    kill -0 "$exporter_pid" 2>/dev/null || fail "the exporter exited"
    curl -fsS -o /dev/null "http://127.0.0.1:$exporter_port/health" 2>/dev/null
}
wait_for "exporter /health answers" exporter_healthy

# --- the Prometheus configuration, derived from demo.yml --------------------------------------
sed -e "s#localhost:9779#127.0.0.1:$exporter_port#" \
    -e 's#scrape_interval: 15s#scrape_interval: 1s#' \
    -e 's#scrape_timeout: 10s#scrape_timeout: 1s#' \
    -e 's#evaluation_interval: 15s#evaluation_interval: 1s#' \
    -e "s#- rules/#- $here/rules/#" \
    "$here/demo.yml" >"$tmp/prometheus.yml"
for expect in "127.0.0.1:$exporter_port" 'scrape_interval: 1s' 'scrape_timeout: 1s' \
    'evaluation_interval: 1s' "$here/rules/ecs-exporter.rules.yml" "$here/rules/ecs-exporter.alerts.yml"; do
    grep -qF -- "$expect" "$tmp/prometheus.yml" || fail "demo.yml changed shape: could not set '$expect' in the derived configuration"
done
promtool check config "$tmp/prometheus.yml" >"$tmp/check.log" 2>&1 || {
    cat "$tmp/check.log" >&2
    fail "promtool check config rejected the derived configuration"
}

# --- Prometheus -------------------------------------------------------------------------------
prometheus --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" \
    --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!

target_up() {
    kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited"
    curl -fsS "$prom_url/api/v1/targets?state=active" 2>/dev/null >"$tmp/targets.json" || return 1
    grep -qF "\"scrapeUrl\":\"http://127.0.0.1:$exporter_port/metrics\"" "$tmp/targets.json" &&
        grep -qF '"health":"up"' "$tmp/targets.json"
}
wait_for "target 127.0.0.1:$exporter_port is up in /api/v1/targets" target_up

# query_nonempty PROMQL: true when the instant query succeeds and returns at least one series.
query_nonempty() {
    local body
    body="$(curl -fsS --get --data-urlencode "query=$1" "$prom_url/api/v1/query" 2>/dev/null)" || return 1
    case "$body" in
    *'"status":"success"'*) ;;
    *) return 1 ;;
    esac
    case "$body" in
    *'"result":[]'*) return 1 ;;
    esac
    return 0
}

wait_for "ecs_exporter_up == 1" query_nonempty 'ecs_exporter_up == 1'
wait_for "ecs_container_info has 4 series" query_nonempty 'count(ecs_container_info) == 4'
# Recording rules, on the demo's real output (rate() needs two scrapes, so this takes a few s).
wait_for "container:ecs_container_cpu_utilisation:ratio_rate1m for web, log-router, ecs-exporter" \
    query_nonempty 'count(container:ecs_container_cpu_utilisation:ratio_rate1m >= 0) == 3'
wait_for "container:ecs_container_cpu_reservation_utilisation:ratio_rate1m for web" \
    query_nonempty 'container:ecs_container_cpu_reservation_utilisation:ratio_rate1m{container_name="web"} > 0'
wait_for "container:ecs_container_memory_utilisation:ratio in (0, 1) for 3 containers" \
    query_nonempty 'count(container:ecs_container_memory_utilisation:ratio > 0 < 1) == 3'
wait_for "task:ecs_task_cpu_utilisation:ratio_rate1m > 0" \
    query_nonempty 'task:ecs_task_cpu_utilisation:ratio_rate1m > 0'
wait_for "task:ecs_task_memory_utilisation:ratio in (0, 1)" \
    query_nonempty 'task:ecs_task_memory_utilisation:ratio > 0 < 1'
wait_for "task:ecs_network_receive_bytes:rate1m > 0" \
    query_nonempty 'task:ecs_network_receive_bytes:rate1m > 0'

# Every rule evaluated without error (a join that matched many-to-many would show up here).
rules_healthy() {
    curl -fsS "$prom_url/api/v1/rules" 2>/dev/null >"$tmp/rules.json" || return 1
    grep -qF '"health":"ok"' "$tmp/rules.json" &&
        ! grep -qE '"health":"(err|unknown)"' "$tmp/rules.json"
}
wait_for "every rule evaluated with health ok" rules_healthy
if grep -qF '"state":"firing"' "$tmp/rules.json"; then
    fail "an alert fires against the healthy demo task: $(grep -oE '"name":"[A-Za-z]+","query"[^}]*"state":"firing"' "$tmp/rules.json" | head -n 3)"
fi
echo "e2e: ok: no alert fires against the healthy demo task"

echo "e2e: PASS"
