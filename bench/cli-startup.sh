#!/bin/bash
# Start-up of the CLI, two builds side by side (interleaved, so drift hits both):
#   bench/cli-startup.sh N BEFORE_DIR AFTER_DIR
# Each DIR holds a built flowgate (dist/, package.json, node_modules/). Prints
# median/mean/min of: `flowgate --version` (and `node -e 0` as the floor), the
# in-process import time of dist/cli/worker.js (what every fleet worker loads),
# and the wall time of a one-node `flowgate run` (Redis from $REDIS_URL).
set -euo pipefail
n=${1:-20}; before=$2; after=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'name: one\nnodes:\n  - id: a\n    command: ["true"]\n' > "$tmp/wf.yaml"
printf 'const t = performance.now(); await import(process.argv[2]); console.log((performance.now() - t).toFixed(1));\n' > "$tmp/load.mjs"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || echo "failed: $*" >&2; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
stats() { awk -v what="$1" '{v[$1]=v[$1]" "$2/1000} END {for (k in v) {n=split(v[k],a," "); asort(a); s=0; for(i=1;i<=n;i++) s+=a[i]; printf "%-28s %-7s median %6.1f ms  mean %6.1f ms  min %6.1f ms  (n=%d)\n", what, k, a[int((n+1)/2)], s/n, a[1], n}}' | sort; }
for i in $(seq "$n"); do
  echo "node $(ms node -e 0)"
  for b in before after; do d=${!b}; echo "$b $(ms node "$d/dist/cli/main.js" --version)"; done
done | stats 'flowgate --version'
for i in $(seq "$n"); do for b in before after; do d=${!b}; echo "$b $(node "$tmp/load.mjs" "$d/dist/cli/worker.js" | awk '{print $1 * 1000}')"; done; done | stats 'worker module import'
for i in $(seq "$n"); do for b in before after; do d=${!b}
  echo "$b $(ms node "$d/dist/cli/main.js" run "$tmp/wf.yaml" --work-dir "$tmp/w-$b" --prefix "fgbench-cli-$b" --quiet --force --retain-runs 0)"
done; done | stats 'one-node flowgate run'
# The runs' keys (--retain-runs 0 removed the runs; queue and registry keys remain).
if command -v redis-cli >/dev/null; then
  url=${REDIS_URL:-redis://127.0.0.1:6379}
  redis-cli -u "$url" --scan --pattern 'fgbench-cli-*' | xargs -r -n 500 redis-cli -u "$url" del >/dev/null
fi
