#!/usr/bin/env bash
# The run viewer and the live clinic in a real browser: installs Debian's Chromium and
# ChromeDriver if missing (scripts/browser-setup.sh), makes two runs against the scripted model
# server, serves them with `medsim serve` (the scripted models playing the live clinic), and
# drives the pages with Selenium (python/browser_test.py): viewer, comparison, a live run watched
# to every verdict, and a whole consultation played as the doctor. Screenshots go to
# target/browser-screenshots/. MEDSIM is the binary (default: target/debug/medsim).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
medsim=${MEDSIM:-$root/target/debug/medsim}
# Run alone (not from scripts/test.sh), the binary may not be built yet.
[ -n "${MEDSIM:-}" ] || [ -x "$medsim" ] || (cd "$root" && cargo build --locked -p medsim-cli >&2)
"$root/scripts/browser-setup.sh"
python=$("$root/scripts/python-env.sh")
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

source "$root/scripts/scripted-clinic.sh"
mkdir -p "$work/runs/broken"
echo '{ damaged' > "$work/runs/broken/run.json"
for doctor in good bad; do
  out=study; [ "$doctor" = bad ] && out=study-bad
  "$medsim" --cache-dir "$work/cache" run --config "$work/medsim.toml" --doctor-model "s/$doctor" --cases endo-01,cardio-01,derm-01 \
    --out "$work/runs/$out" > /dev/null 2>&1
done
# A small ablation, so an arm's page shows the accuracy-cost chart.
"$medsim" --cache-dir "$work/cache" ablate --config "$work/medsim.toml" --doctor-model s/good --limit 3 \
  --grid "baseline;baseline@budget=200" --out "$work/runs/ablation" > /dev/null 2>&1
# The live clinic's models: the scripted doctor s/good, patient and judge from medsim.toml.
"$medsim" --cache-dir "$work/cache" serve --config "$work/medsim.toml" --doctor-model s/good --runs "$work/runs" --port 0 \
  > "$work/serve.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q http "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$work/serve.out" | head -1)
"$medsim" report "$work/runs/study" -o "$work/report.html" 2>/dev/null
"$python" "$root/python/browser_test.py" "$url" study "$root/target/browser-screenshots" "$work/report.html"
