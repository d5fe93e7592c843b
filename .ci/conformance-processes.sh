#!/usr/bin/env bash
# The conformance suite against the reference operation center started as separate processes
# (`ompp-server run --role network|mobile`), pointed at it by a manifest: every case must get
# exactly the verdict it gets in the in-process self-test, none unsupported (issue 6). The network
# process calls the suite's own bank processor and SMS center (manifest `[counterparties]`), so
# flow C runs too; the reference bank processor and SMS center are not started for this run.
#
# Usage: .ci/conformance-processes.sh IN_PROCESS_REPORT_DIR
# Needs CARGO_TARGET_DIR (as .ci/run sets it) and python3.
set -euo pipefail
ci_dir=$(cd "$(dirname "$0")" && pwd)
in_process=$1
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

# Eight loopback ports free now, below the ephemeral range, so that no connection made
# meanwhile takes one (.ci/free-ports.py).
read -r p_net p_netlink p_mob p_moblink p_bank p_sms p_handset p_proxy < <(python3 "$ci_dir/free-ports.py" 8)

cat >"$work/ompp.toml" <<TOML
data_dir = "$work/data"
password_hashing = "fast-insecure"

[network]
listen = "127.0.0.1:$p_net"
link_listen = "127.0.0.1:$p_netlink"
# The mobile server's link, through the suite (manifest counterparties.link_listen), which
# forwards to $p_moblink and records what the network server sends (OMPP-LINK-010).
mobile_link_url = "https://localhost:$p_proxy"
bank_url = "https://localhost:$p_bank"
sms_url = "https://localhost:$p_sms"
gateway_url = "https://localhost:$p_net"
# The shortest code validity (OMPP-AUTH-002): oc.flow-c.code-expiry waits for it.
auth_code_validity_secs = 60
# The second mobile link identity of \`pki conformance-extras\` (manifest tls.link.second_mobile),
# with which the rate-limit case sends its load (OMPP-LINK-005).
link_peers = ["ompp://mobile/MS-2"]

[[network.enrollment_tokens]]
token = "conformance-processes-token-1"
merchant_id = "M-PROC-1"

[[network.enrollment_tokens]]
token = "conformance-processes-token-2"
merchant_id = "M-PROC-2"

[mobile]
listen = "127.0.0.1:$p_mob"
link_listen = "127.0.0.1:$p_moblink"
network_link_url = "https://localhost:$p_netlink"

[bank]
listen = "127.0.0.1:$p_bank"

[sms]
listen = "127.0.0.1:$p_sms"
handset_listen = "127.0.0.1:$p_handset"
TOML

pki="$work/data/pki"
"$bin/ompp-server" pki init --dir "$pki" >/dev/null
"$bin/ompp-server" pki conformance-extras --dir "$pki" >/dev/null
for role in mobile network; do
  "$bin/ompp-server" run --role "$role" --config "$work/ompp.toml" >"$work/$role.log" 2>&1 &
  pids+=("$!")
done
for port in "$p_net" "$p_mob" "$p_netlink" "$p_moblink"; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

cat >"$work/vendor.toml" <<TOML
role = "operation_center"
profiles = ["registration", "flow_a", "flow_b", "flow_c"]

[endpoints]
network = "https://localhost:$p_net"
mobile = "https://localhost:$p_mob"
network_link = "https://localhost:$p_netlink"
mobile_link = "https://localhost:$p_moblink"

[tls]
trust_anchors = "data/pki/operator-ca.pem"
merchant = { cert = "data/pki/merchant-M-1042.pem", key = "data/pki/merchant-M-1042.key" }
expired_merchant = { cert = "data/pki/merchant-expired.pem", key = "data/pki/merchant-expired.key" }
unregistered_merchant = { cert = "data/pki/merchant-unregistered.pem", key = "data/pki/merchant-unregistered.key" }
unpaired_device = { cert = "data/pki/device-unpaired.pem", key = "data/pki/device-unpaired.key" }
# The suite's bank processor and SMS center present the reference PKI's bank and SMS identities,
# which the network process trusts, and accept its client certificate (operator CA).
counterparty_server = { cert = "data/pki/bank.pem", key = "data/pki/bank.key" }
counterparty_sms_server = { cert = "data/pki/sms.pem", key = "data/pki/sms.key" }
counterparty_client_ca = "data/pki/operator-ca.pem"
# Trusted, but not the bank the network process is configured to call (OMPP-TLS-012).
counterparty_other_server = { cert = "data/pki/bank-other.pem", key = "data/pki/bank-other.key" }

[fixtures]
enrollment_tokens = ["conformance-processes-token-1", "conformance-processes-token-2"]

[tls.link]
trust_anchors = "data/pki/link-ca.pem"
as_mobile = { cert = "data/pki/link-mobile.pem", key = "data/pki/link-mobile.key" }
as_network = { cert = "data/pki/link-network.pem", key = "data/pki/link-network.key" }
unlisted = { cert = "data/pki/link-unlisted.pem", key = "data/pki/link-unlisted.key" }
second_mobile = { cert = "data/pki/link-mobile-2.pem", key = "data/pki/link-mobile-2.key" }

# Where the network process's bank_url and sms_url point; the bank holds the sample merchant's
# account, which checkouts credit, and the operator's account (the reference's default
# network.operator_account), which top-ups credit.
[counterparties]
bank_listen = "127.0.0.1:$p_bank"
sms_listen = "127.0.0.1:$p_sms"
link_listen = "127.0.0.1:$p_proxy"
bank_id = "OMPPBANK"
bank_accounts = ["DEMO1042", "OPER0001"]
TOML

status=0
"$bin/ompp-conformance" run --manifest "$work/vendor.toml" --report-dir "$work/report" \
  | tail -n 4 || status=$?
if [ "$status" -ne 0 ]; then
  echo "error: the suite against the separate processes exited with $status" >&2
  tail -n 20 "$work"/*.log >&2
  exit 1
fi

python3 - "$in_process/report.json" "$work/report/report.json" <<'PY'
import json, sys
in_process = {c["id"]: c["verdict"] for c in json.load(open(sys.argv[1]))["cases"]}
processes = {c["id"]: c["verdict"] for c in json.load(open(sys.argv[2]))["cases"]}
ids = sorted(set(in_process) | set(processes))
differ = [(k, in_process.get(k), processes.get(k)) for k in ids
          if in_process.get(k) != processes.get(k) or processes.get(k) == "unsupported"]
for case, a, b in differ:
    print(f"verdict differs: {case}: in-process {a}, separate processes {b}", file=sys.stderr)
if differ or not ids:
    sys.exit(1)
print(f"separate processes: the same verdict as in-process for all {len(ids)} cases, none unsupported")
PY
