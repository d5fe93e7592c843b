#!/usr/bin/env bash
# The conformance suite certifies the reference bank processor and SMS center started as separate
# processes (`ompp-server run --role bank`, `--role sms`), pointed at them by manifests: every
# case must pass, with the same verdicts as the in-process runs (`run --role bank-processor`,
# `run --role sms-center`), whose reports and evidence must also be valid against the schemas
# (issue 6).
#
# Usage: .ci/conformance-roles.sh
# Needs CARGO_TARGET_DIR (as .ci/run sets it), python3 with jsonschema.
set -euo pipefail
ci_dir=$(cd "$(dirname "$0")" && pwd)
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug"
cargo build --quiet --locked -p ompp-server -p ompp-conformance

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

printf '\n==> %s\n' "conformance: the reference bank processor and SMS center, in-process and as separate processes"
# The in-process runs: the reference of each role alone.
for role in bank-processor sms-center; do
  "$bin/ompp-conformance" run --role "$role" --report-dir "$work/in-process-$role" \
    | grep -E '^(NOT )?CONFORMANT'
  python3 .ci/validate-evidence.py "$work/in-process-$role" spec/schemas
done

# Three loopback ports free now, below the ephemeral range, so that no connection made
# meanwhile takes one (.ci/free-ports.py).
read -r p_bank p_sms p_handset < <(python3 "$ci_dir/free-ports.py" 3)

# The reference's defaults: bank OMPPBANK with DEMO0001 (funded) and DEMO1042, both servers
# allow-listing the development PKI's network server, ompp://network/NS-1.
cat >"$work/ompp.toml" <<TOML
data_dir = "$work/data"

[bank]
listen = "127.0.0.1:$p_bank"

[sms]
listen = "127.0.0.1:$p_sms"
handset_listen = "127.0.0.1:$p_handset"
TOML

"$bin/ompp-server" pki init --dir "$work/data/pki" >/dev/null
for role in bank sms; do
  "$bin/ompp-server" run --role "$role" --config "$work/ompp.toml" >"$work/$role.log" 2>&1 &
  pids+=("$!")
done
for port in "$p_bank" "$p_sms" "$p_handset"; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

cat >"$work/bank-processor.toml" <<TOML
role = "bank_processor"
profiles = []

[endpoints]
bank = "https://localhost:$p_bank"

[tls]
trust_anchors = "data/pki/operator-ca.pem"
network = { cert = "data/pki/network.pem", key = "data/pki/network.key" }

[fixtures.bank_accounts]
payer = "OMPPBANK/DEMO0001"
payee = "OMPPBANK/DEMO1042"
unknown = "OMPPBANK/NOSUCHACCOUNT1"
TOML

cat >"$work/sms-center.toml" <<TOML
role = "sms_center"
profiles = []

[endpoints]
sms = "https://localhost:$p_sms"
handset = "https://localhost:$p_handset"

[tls]
trust_anchors = "data/pki/operator-ca.pem"
network = { cert = "data/pki/network.pem", key = "data/pki/network.key" }
TOML

for role in bank-processor sms-center; do
  status=0
  "$bin/ompp-conformance" run --manifest "$work/$role.toml" --report-dir "$work/processes-$role" \
    | grep -E '^(NOT )?CONFORMANT' || status=$?
  if [ "$status" -ne 0 ]; then
    echo "error: the suite against the separate $role process exited with $status" >&2
    tail -n 20 "$work"/*.log >&2
    exit 1
  fi
  python3 - "$role" "$work/in-process-$role/report.json" "$work/processes-$role/report.json" <<'PY'
import json, sys
role = sys.argv[1]
in_process = {c["id"]: c["verdict"] for c in json.load(open(sys.argv[2]))["cases"]}
processes = {c["id"]: c["verdict"] for c in json.load(open(sys.argv[3]))["cases"]}
differ = sorted(k for k in in_process.keys() | processes.keys()
                if in_process.get(k) != processes.get(k))
for case in differ:
    print(f"verdict differs: {case}: in-process {in_process.get(case)}, "
          f"separate process {processes.get(case)}", file=sys.stderr)
failing = sorted(k for k, v in processes.items() if v != "pass")
for case in failing:
    print(f"not passed: {case}: {processes[case]}", file=sys.stderr)
if differ or failing or not processes:
    sys.exit(1)
print(f"{role} as a separate process: all {len(processes)} cases pass, as in-process")
PY
done
