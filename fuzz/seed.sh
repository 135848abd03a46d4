#!/usr/bin/env bash
# Seed fuzz/corpus/pipeline from the captures in tests/fixtures. An input is a /task body, a
# 0x00 byte, and a /task/stats body (see fuzz_targets/pipeline.rs). Seeds: every capture pair
# the golden tests use, and every capture alone as the /task body (stats `{}`) and as the stats
# body (task `{}`). The corpus directory is not committed; run this once before fuzzing.
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures
out=corpus/pipeline
mkdir -p "$out"

pair() { # name task-file stats-file
    { cat "$2"; printf '\0'; cat "$3"; } >"$out/pair-$1"
}
pair ecs_exporter-fargate "$fx/ecs_exporter/fargate_task_metadata.json" "$fx/ecs_exporter/fargate_task_stats.json"
pair ecs_exporter-ec2 "$fx/ecs_exporter/ec2_task_metadata.json" "$fx/ecs_exporter/ec2_task_stats.json"
pair otel-fargate "$fx/otel-contrib/task_metadata2.json" "$fx/otel-contrib/task_stats2.json"
pair otel-ec2-bridge "$fx/otel-contrib/task_metadata.json" "$fx/otel-contrib/task_stats.json"
pair telegraf-cgroupv2 "$fx/telegraf/cgroupv2/meta.json" "$fx/telegraf/cgroupv2/stats.json"
pair telegraf "$fx/telegraf/metadata.golden" "$fx/telegraf/stats.golden"
pair datadog-linux "$fx/datadog-integrations-core/metadata_v4.json" "$fx/datadog-integrations-core/stats_linux_v4.json"
pair aws-docs-v4 "$fx/aws-docs/task-metadata-endpoint-v4__task_metadata.json" "$fx/aws-docs/task-metadata-endpoint-v4__task_stats.json"

# Managed Instances: element i of a /tasks array with element i of the /tasks/stats array.
if command -v python3 >/dev/null; then
    python3 - "$fx/otel-contrib/instance_tasks_metadata.json" "$fx/otel-contrib/instance_tasks_stats.json" "$out" <<'PY'
import json, sys
tasks, stats = (json.load(open(p)) for p in sys.argv[1:3])
for i, (t, s) in enumerate(zip(tasks, stats)):
    with open(f"{sys.argv[3]}/pair-otel-managed-instances-{i}", "wb") as f:
        f.write(json.dumps(t).encode() + b"\0" + json.dumps(s).encode())
PY
fi

# Every capture alone, on either side.
n=0
while IFS= read -r -d '' f; do
    name=$(printf '%s' "${f#"$fx"/}" | tr '/' '_')
    { cat "$f"; printf '\0{}'; } >"$out/task-$name"
    { printf '{}\0'; cat "$f"; } >"$out/stats-$name"
    n=$((n + 1))
done < <(find "$fx" -type f \( -name '*.json' -o -name '*.golden' \) -print0 | sort -z)
echo "seeded $out: $(ls "$out" | wc -l) inputs ($n captures)"
