#!/usr/bin/env bash
# Nightly hardware-in-the-loop run, for any CI system (ci/nightly-hil.yml runs this same script).
#
# Runs the acceptance suite against the device profile, writes reports/<run-id>/ (report.html,
# summary.json, telemetry.json, junit.xml, plots; reports/latest links it), refreshes the design doc's
# jetson-hil section and prints the verdict per task. Exit status: pytest's (0 all passed, 1 failures).
#
# Environment:
#   JETSON_HIL_DEVICE      device profile (TOML path, 'local' or 'sim[:NAME]'); required
#   JETSON_HIL_RUN_ID      run id (default: UTC timestamp); CI should pass its run number
#   JETSON_HIL_REPORTS     reports root (default: reports)
#   JETSON_HIL_ATTACH_DOC  design doc to refresh: 'device' (the profile's), 'device:PATH', a local path,
#                          or 'none' (default: device)
#   JETSON_HIL_BOOTSTRAP   0 to skip scripts/bootstrap.sh (the runner is already prepared)
#   plus the broker credential variables the profile names ([mqtt] username_env/password_env, e.g. JETSON_HIL_MQTT_USER/_PASSWORD)
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${JETSON_HIL_DEVICE:?set JETSON_HIL_DEVICE to the device profile (devices/<name>.toml)}"
if [ "${JETSON_HIL_BOOTSTRAP:-1}" != 0 ]; then
  scripts/bootstrap.sh
fi
run_id=${JETSON_HIL_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}
out="${JETSON_HIL_REPORTS:-reports}/$run_id"
doc=${JETSON_HIL_ATTACH_DOC:-device}
args=(-m jetson -p no:randomly --device "$JETSON_HIL_DEVICE" --report-dir "$out")
if [ "$doc" != none ]; then
  args+=(--attach-doc "$doc")
fi
set +e
JETSON_HIL_RUN_ID="$run_id" .venv/bin/python -m pytest -c pyproject.toml --rootdir . "${args[@]}" "$@"
rc=$?
set -e
if [ -f "$out/summary.json" ]; then
  .venv/bin/python - "$out/summary.json" <<'PY'
import json
import sys

s = json.load(open(sys.argv[1]))
print(f"jetson-hil {s['run']['id']}: {s['run']['verdict']} on {s['run']['device']}")
for task, v in s["tasks"].items():
    print(f"  {task}: {v['verdict']} ({v['passed']} passed, {v['failed']} failed, {v['skipped']} skipped)")
if s["run"].get("design_doc"):
    print(f"  {s['run']['design_doc']}")
PY
else
  echo "jetson-hil: no summary.json in $out (the run did not get as far as the report)" >&2
fi
echo "report: $out/report.html"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "report_dir=$out" >>"$GITHUB_OUTPUT"
fi
exit $rc
