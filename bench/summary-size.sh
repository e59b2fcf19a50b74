#!/usr/bin/env bash
# Size of a wide run's summary: Redis memory of the run's keys, the largest
# single value, `run --json` and summary file sizes, `status --json`, and the
# board's answers for the run. Usage:
#   bench/summary-size.sh BUILD_DIR NODES [PREFIX]
# BUILD_DIR is a checkout with `npm run build` done (dist/cli/main.js).
set -euo pipefail
build=$(cd "$1" && pwd)
nodes=$2
prefix=${3:-fgbench-summary-$$}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
cli="node $build/dist/cli/main.js"
work=$(mktemp -d /tmp/fg-summary-size.XXXXXX)
run=size-$nodes-$$
node -e "const n=+process.argv[1];require('fs').writeFileSync(process.argv[2],JSON.stringify({name:'wide',nodes:Array.from({length:n},(_,i)=>({id:'n'+i,command:['true']}))}))" "$nodes" "$work/wide.json"
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" $cli run "$work/wide.json" --json --quiet --prefix "$prefix" --run-id "$run" --work-dir "$work/w" --n-procs 4 > "$work/out.json"
end=$(date +%s.%N)
node -e "const s=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));if(s.nodes.length!==+process.argv[2]||s.status!=='succeeded')process.exit(1)" "$work/out.json" "$nodes"
mem=0
for k in $(redis-cli -u "$REDIS_URL" --scan --pattern "$prefix:fg:run:$run:*"); do
  m=$(redis-cli -u "$REDIS_URL" memory usage "$k" samples 0); mem=$((mem + m))
done
meta=$(redis-cli -u "$REDIS_URL" memory usage "$prefix:fg:run:$run:meta" samples 0)
sumlen=$(redis-cli -u "$REDIS_URL" hstrlen "$prefix:fg:run:$run:meta" summary)
deflen=$(redis-cli -u "$REDIS_URL" hstrlen "$prefix:fg:run:$run:meta" definition)
s0=$(date +%s.%N); $cli status "$run" --json --prefix "$prefix" > "$work/status.json"; s1=$(date +%s.%N)
$cli board --port 0 --host 127.0.0.1 --prefix "$prefix" 2> "$work/board.log" &
board=$!
for _ in $(seq 100); do url=$(grep -o 'http://[^ ]*' "$work/board.log" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
api=$(curl -s -o /dev/null -w '%{size_download} %{time_total}' "$url/api/runs/$run")
page=$(curl -s -o /dev/null -w '%{size_download} %{http_code}' "$url/api/runs/$run/nodes?limit=1000")
kill "$board"; wait "$board" 2>/dev/null || true
printf 'nodes=%s run_s=%.1f run_maxrss_kb=%s stdout_bytes=%s file_bytes=%s redis_run_keys_bytes=%s meta_bytes=%s meta_summary_chars=%s meta_definition_chars=%s status_json_bytes=%s status_s=%.2f api_run_bytes_s=%s api_nodes_page1000=%s\n' \
  "$nodes" "$(echo "$end - $start" | bc)" "$(cat "$work/rss")" "$(stat -c %s "$work/out.json")" "$(stat -c %s "$work/w/_runs/$run.json")" "$mem" "$meta" "$sumlen" "$deflen" "$(stat -c %s "$work/status.json")" "$(echo "$s1 - $s0" | bc)" "$api" "$page"
for k in $(redis-cli -u "$REDIS_URL" --scan --pattern "$prefix:*"); do echo "$k"; done | xargs -r -n 500 redis-cli -u "$REDIS_URL" del > /dev/null
rm -rf "$work"
