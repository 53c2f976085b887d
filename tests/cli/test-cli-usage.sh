#!/bin/bash
# Every usage mistake of every subcommand exits 2 with "covirt CMD: …" and "Try 'covirt CMD --help'.";
# --help exits 0; real errors keep their own exit codes (docs/agent.md: 1 io, 2 invalid, 7 unavailable).
set -uo pipefail
covirt=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

# expect RC CMD PATTERN -- ARGS…: the exit code, and a line of stderr matching PATTERN
expect() {
    local rc=$1 pat=$2; shift 3
    "$covirt" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$?
    if [ "$got" != "$rc" ] || ! grep -Eq -- "$pat" "$tmp/err"; then
        echo "FAIL: covirt $* → rc $got (want $rc), stderr pattern '$pat':"; sed 's/^/    /' "$tmp/err" | head -5
        fails=$((fails + 1))
    fi
}

# command (as typed) | arguments of a usage mistake; every command has a wrong option and a missing argument
usage_cases=(
    "domain|"                      "domain|frobnicate"
    "domain render|"               "domain render|--frobnicate x.json"
    "cvm|"                         "cvm|--frobnicate list"        "cvm|show"     "cvm|list extra"   "cvm|frobnicate x"
    "cvm|wait x"                   "cvm|stop-computation"         "cvm|reset-computation a b"
    "host|"                        "host|--frobnicate list"       "host|list extra"  "host|frobnicate"
    "attest|"                      "attest|--frobnicate"
    "policy|"                      "policy|frobnicate"
    "policy check|"                "policy check|--frobnicate x.json"
    "policy vtpm|"                 "policy vtpm|--frobnicate"
    "policy sev-snp|"              "policy sev-snp|--frobnicate"  "policy sev-snp|--measurement 00"
    "policy tdx|"                  "policy tdx|--frobnicate"      "policy tdx|--mrtd 00"
    "verify|"                      "verify|frobnicate"
    "verify sev-snp|"              "verify sev-snp|--frobnicate"
    "verify tdx|"                  "verify tdx|--frobnicate"
    "verify tpm|"                  "verify tpm|--frobnicate"
    "verify evidence|"             "verify evidence|--frobnicate"
    "keys|"                        "keys|--frobnicate"            "keys|--type"
    "checksum|"                    "checksum|--frobnicate"
    "manifest|"                    "manifest|frobnicate"
    "manifest new|"                "manifest new|--frobnicate m.json"  "manifest new|m.json --id c1"
    "manifest set-algorithm|"      "manifest set-algorithm|--frobnicate" "manifest set-algorithm|m.json a.py"
    "manifest set-algorithm|m.json a.py --key k.pub --type java"
    "manifest add-dataset|"        "manifest add-dataset|--frobnicate" "manifest add-dataset|m.json a.csv"
    "manifest add-dataset|m.json a.csv --key k.pub --filename ../x"
    "manifest add-consumer|"       "manifest add-consumer|--frobnicate" "manifest add-consumer|m.json"
    "manifest hash|"               "manifest hash|--frobnicate"
    "algo|"                        "algo|--frobnicate"            "algo|--agent https://h:1 --key k.pem"
    "algo|--agent https://h:1 --key k.pem a b"
    "data|"                        "data|--frobnicate"            "data|--agent https://h:1 --key k.pem"
    "result|"                      "result|--frobnicate"          "result|--agent https://h:1 --key k.pem"
    "measure|"                     "measure|frobnicate"
    "measure sev-snp|"             "measure sev-snp|--frobnicate" "measure sev-snp|--ovmf x.fd --vcpus 1"
    "measure tdx|"                 "measure tdx|--frobnicate"     "measure tdx|--ovmf x.fd --page-order 3"
    "kbs|"                         "kbs|frobnicate"
    "kbs encrypt|"                 "kbs encrypt|--frobnicate"     "kbs encrypt|--key k in"
)
declare -A covered
for c in "${usage_cases[@]}"; do
    cmd=${c%%|*} args=${c#*|}
    covered[$cmd]=1
    # shellcheck disable=SC2086
    expect 2 "^covirt $cmd: .+" -- $cmd $args
    grep -Fqx "Try 'covirt $cmd --help'." "$tmp/err" || { echo "FAIL: covirt $cmd $args: no --help hint"; fails=$((fails + 1)); }
    [ -s "$tmp/out" ] && { echo "FAIL: covirt $cmd $args wrote to stdout"; fails=$((fails + 1)); }
done

# every command `covirt --help` lists, and every form of those with subcommands, has its cases; --help exits 0
commands=$("$covirt" --help | awk '/^Commands:/ { on = 1; next } on && !NF { exit } on { print $1 }')
[ -n "$commands" ] || { echo "FAIL: covirt --help lists no commands"; fails=$((fails + 1)); }
for cmd in $commands "domain render" "policy check" "policy vtpm" "verify sev-snp" "verify tdx" "verify tpm" \
           "verify evidence" "measure sev-snp" "measure tdx" "policy sev-snp" "policy tdx" "kbs encrypt" \
           "manifest new" "manifest set-algorithm" "manifest add-dataset" "manifest add-consumer" "manifest hash"; do
    [ -n "${covered[$cmd]:-}" ] || { echo "FAIL: no usage case for covirt $cmd"; fails=$((fails + 1)); }
    # shellcheck disable=SC2086
    "$covirt" $cmd --help >"$tmp/out" 2>&1 || { echo "FAIL: covirt $cmd --help exited non-zero"; fails=$((fails + 1)); }
    grep -q "Usage:" "$tmp/out" || { echo "FAIL: covirt $cmd --help printed no usage"; fails=$((fails + 1)); }
    # the usage line names the command as typed and its real arguments, none twice ("FILE FILE")
    grep -Eq "^(  )?(Usage: )?covirt $cmd " "$tmp/out" || { echo "FAIL: covirt $cmd --help: usage not 'covirt $cmd …'"; fails=$((fails + 1)); }
    grep -Eq '(^| )([A-Z.…]+) \2( |$)' "$tmp/out" && { echo "FAIL: covirt $cmd --help repeats an argument"; fails=$((fails + 1)); }
done
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 2 "^Usage: covirt COMMAND" --

# real errors are not usage mistakes: they keep their codes
expect 1 "cannot (open|read) $tmp/none" -- checksum "$tmp/none"
expect 1 "cannot read $tmp/none" -- domain render "$tmp/none"
expect 1 "cannot read $tmp/none" -- verify tdx --quote "$tmp/none"
expect 1 "cannot read $tmp/none" -- policy check "$tmp/none"
expect 1 "cannot read $tmp/none" -- manifest hash "$tmp/none"
expect 1 "cannot read $tmp/none" -- attest --agent https://127.0.0.1:1 --policy "$tmp/none"
expect 2 "must be rsa, ecdsa or ed25519" -- keys --type dsa --out "$tmp/k"
expect 2 "is not an http\(s\) URL" -- cvm --manager ftp://x list
expect 2 "64 hex digits" -- algo --agent https://127.0.0.1:1 --key "$tmp/k" --pin 00 "$tmp/none"
expect 7 "cannot reach the manager" -- cvm --manager http://127.0.0.1:1 list

# the environment's defaults: COVIRT_AGENT_URL stands for --agent (the pin is what is wrong then),
# COVIRT_MANAGER_URL for --manager
COVIRT_AGENT_URL=https://127.0.0.1:1 "$covirt" algo --key "$tmp/k" --pin 00 "$tmp/none" >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q "64 hex digits" "$tmp/err" || { echo "FAIL: COVIRT_AGENT_URL not taken for --agent"; cat "$tmp/err"; fails=$((fails + 1)); }
COVIRT_MANAGER_URL=http://127.0.0.1:1 MANAGER_URL=http://127.0.0.1:2 "$covirt" cvm list >/dev/null 2>"$tmp/err"
[ $? = 7 ] && grep -q "127.0.0.1:1" "$tmp/err" || { echo "FAIL: COVIRT_MANAGER_URL not taken for --manager"; cat "$tmp/err"; fails=$((fails + 1)); }

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli-usage ok"
