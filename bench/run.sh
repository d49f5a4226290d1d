#!/usr/bin/env bash
# Benchmark smtpdiag start-up and one loopback probe against swaks, with hyperfine.
#
#   bash bench/run.sh            # writes bench/results.md (about 1.5 minutes)
#
# Env: PYTHON   interpreter of the venv holding smtpdiag (default: the repo's .venv)
#      RUNS     timed runs per command (default 30); WARMUP (default 3)
#      BUDGET   hard limit for the whole run in seconds (default 170)
#
# Everything stays on loopback: bench/serve.py starts smtpdiag's fake DNS and fake MX
# on 127.0.0.1 (random ports); the server is stopped on exit, whatever happens.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-$(if [ -x "$HERE/../.venv/bin/python" ]; then echo "$HERE/../.venv/bin/python"; else command -v python3; fi)}"
SMTPDIAG="${SMTPDIAG:-$(dirname "$PYTHON")/smtpdiag}"
RUNS="${RUNS:-30}"
WARMUP="${WARMUP:-3}"
BUDGET="${BUDGET:-170}"
OUT="$HERE/results.md"

for tool in hyperfine swaks timeout; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: $tool not found (apt-get install -y swaks hyperfine)" >&2; exit 2; }
done
[ -x "$PYTHON" ] && [ -x "$SMTPDIAG" ] || { echo "run.sh: no $PYTHON / $SMTPDIAG" >&2; exit 2; }

TMP="$(mktemp -d /tmp/smtpdiag-bench.XXXXXX)"
SERVER_PID=""
LIMIT_PID=""
cleanup() {
    local rc=$?
    if [ -n "$LIMIT_PID" ]; then
        kill -TERM "$LIMIT_PID" 2>/dev/null || true
        wait "$LIMIT_PID" 2>/dev/null || true
    fi
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 25); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

limit() {  # limit <command...>: run it within what is left of the budget
    local left=$((BUDGET - SECONDS))
    if [ "$left" -le 5 ]; then echo "run.sh: time budget (${BUDGET}s) spent" >&2; exit 124; fi
    # in the background + wait, so that a signal to this script is handled at once
    # (cleanup then stops the command: timeout passes the signal on to its group)
    timeout -k 5 "$left" "$@" &
    LIMIT_PID=$!
    local rc=0
    wait "$LIMIT_PID" || rc=$?
    LIMIT_PID=""
    return "$rc"
}

# 1. Start the fake servers and read their ports.
"$PYTHON" "$HERE/serve.py" >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q '^RESOLVER=' "$TMP/serve.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/serve.err" >&2; exit 1; }
    sleep 0.1
done
SMTP_PORT="$(sed -n 's/^SMTP_PORT=//p' "$TMP/serve.out")"
RESOLVER="$(sed -n 's/^RESOLVER=//p' "$TMP/serve.out")"
[ -n "$SMTP_PORT" ] && [ -n "$RESOLVER" ] || { echo "run.sh: serve.py did not start" >&2; exit 1; }
echo "fake MX on 127.0.0.1:$SMTP_PORT, fake DNS on $RESOLVER (pid $SERVER_PID)"

# 2. The commands.
ADDR="user@bench.test"
ALL_IMPORTS="import smtpdiag; smtpdiag.probe_many; import smtpdiag.cli, smtpdiag.render, smtpdiag.catalog as c; c.load()"
declare -a STARTUP=(
    "$PYTHON -S -c pass"
    "$PYTHON -c pass"
    "$SMTPDIAG --version"
    "$SMTPDIAG --help"
    "$PYTHON -c 'import smtpdiag.cli'"
    # everything a probe loads (via the package's lazy smtpdiag.probe_many), without the
    # session; then the same ending in os._exit(0): the difference is interpreter tear-down
    "$PYTHON -c '$ALL_IMPORTS'"
    "$PYTHON -c '$ALL_IMPORTS; import os; os._exit(0)'"
    "swaks --version"
)
# swaks: --from '<>' is its null sender (MAIL FROM:<>, as smtpdiag sends by default);
# --from '' would make swaks prompt, then fall back to user@host.
# hyperfine --shell=none passes "<>" to swaks as is (no shell redirection).
declare -a PROBES=(
    "swaks --quit-after RCPT --server 127.0.0.1 --port $SMTP_PORT --to $ADDR --from <> --helo bench.test"
    "$SMTPDIAG probe --server 127.0.0.1:$SMTP_PORT --no-catch-all --helo bench.test $ADDR"
    "$SMTPDIAG probe --server 127.0.0.1:$SMTP_PORT --helo bench.test $ADDR"
    "$SMTPDIAG probe --server 127.0.0.1:$SMTP_PORT --helo bench.test --format json $ADDR"
    "$SMTPDIAG probe --resolver $RESOLVER --port $SMTP_PORT --no-catch-all --helo bench.test $ADDR"
    "$SMTPDIAG probe --resolver $RESOLVER --port $SMTP_PORT --helo bench.test $ADDR"
)

# 3. Sanity check: every probe command succeeds once and reaches RCPT TO.
for cmd in "${PROBES[@]}"; do
    # shellcheck disable=SC2086
    if ! out="$(timeout 20 bash -c "${cmd//<>/\'<>\'}" </dev/null 2>&1)"; then
        echo "run.sh: command failed: $cmd" >&2; echo "$out" >&2; exit 1
    fi
    grep -qE 'RCPT TO:<user@bench.test>|"verdict": "deliverable"' <<<"$out" \
        || { echo "run.sh: no RCPT TO in the output of: $cmd" >&2; echo "$out" >&2; exit 1; }
done

# 4. hyperfine. --shell=none: commands are exec'd directly (no shell start-up to subtract).
bench() {  # bench <title> <export-name> <commands...>
    local title="$1" name="$2"; shift 2
    limit hyperfine --shell=none --warmup "$WARMUP" --runs "$RUNS" \
        --export-markdown "$TMP/$name.md" --export-json "$TMP/$name.json" "$@"
    { echo "### $title"; echo; cat "$TMP/$name.md"; echo; } >>"$TMP/tables.md"
}
: >"$TMP/tables.md"
bench "Start-up (no network)" startup "${STARTUP[@]}"
bench "One probe of the loopback fake MX (up to RCPT TO, never DATA)" probe "${PROBES[@]}"

# 5. Where the time goes: phases of one probe, and the imports.
import_rc=0
{
    echo "### Phases of one \`smtpdiag probe\` (bench/phases.py)"; echo
    echo "With \`--server 127.0.0.1:SMTP_PORT --no-catch-all\`:"; echo
    limit "$PYTHON" "$HERE/phases.py" --python "$PYTHON" \
        --server "127.0.0.1:$SMTP_PORT" --runs 15
    echo; echo "With \`--resolver 127.0.0.1:DNSPORT --port SMTP_PORT\` (MX lookup, catch-all on):"; echo
    limit "$PYTHON" "$HERE/phases.py" --python "$PYTHON" \
        --resolver "$RESOLVER" --port "$SMTP_PORT" --catch-all --runs 15
    echo
    echo "### Imports (bench/importcheck.py, best of 5 runs each)"; echo
    limit "$PYTHON" "$HERE/importcheck.py" --python "$PYTHON" \
        --code "import smtpdiag.cli" \
        --run "probe --server 127.0.0.1:$SMTP_PORT --no-catch-all --helo bench.test $ADDR" \
        | sed 's/^## /#### /' || import_rc=$?
} >>"$TMP/tables.md"

# 6. Stop the server (bounded wait); it exits 1 if any probe sent DATA/BDAT.
kill -TERM "$SERVER_PID"
for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
server_rc=0; kill -0 "$SERVER_PID" 2>/dev/null && server_rc=124
[ "$server_rc" -eq 0 ] && { wait "$SERVER_PID" || server_rc=$?; }
[ "$server_rc" -eq 124 ] || SERVER_PID=""
if [ "$server_rc" -ne 0 ]; then echo "run.sh: fake server exit $server_rc" >&2; cat "$TMP/serve.err" >&2; exit 1; fi

# 7. results.md: environment, then the tables (ports replaced by placeholders).
{
    echo "# smtpdiag benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPU(s), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
    echo "- $("$PYTHON" -V 2>&1) ($PYTHON), smtpdiag $("$SMTPDIAG" --version | awk '{print $NF}')," \
         "$(hyperfine --version), swaks $(swaks --version 2>&1 | awk '{print $NF; exit}')"
    if rev="$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null)"; then
        dirty="$(git -C "$HERE/.." status --porcelain -- smtpdiag 2>/dev/null | wc -l)"
        echo "- source: git $rev, $dirty uncommitted change(s) under smtpdiag/"
    fi
    echo "- hyperfine --shell=none --warmup $WARMUP --runs $RUNS; server: bench/serve.py (bench/bench.toml)"
    echo "- SMTP_PORT / DNSPORT are the random loopback ports of that run"
    echo
    sed -e "s/127\.0\.0\.1:$SMTP_PORT/127.0.0.1:SMTP_PORT/g" -e "s/--port $SMTP_PORT/--port SMTP_PORT/g" \
        -e "s/$RESOLVER/127.0.0.1:DNSPORT/g" -e "s#$(dirname "$PYTHON")/##g" \
        -e "s#$HERE/#bench/#g" "$TMP/tables.md"
} >"$OUT"
echo "wrote $OUT in ${SECONDS}s"
if [ "$import_rc" -eq 124 ]; then
    echo "run.sh: importcheck timed out (budget ${BUDGET}s); its tables are incomplete" >&2; exit 1
elif [ "$import_rc" -ne 0 ]; then
    echo "run.sh: importcheck: --version/--help import a heavy module (see $OUT)" >&2; exit 1
fi
