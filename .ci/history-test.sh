#!/usr/bin/env bash
# The results history for real: 30 "commits" of small runs, the first 15 measured by the
# normal build and the last 15 by a build slowed with the inject-delay feature, each added to a
# history under a synthetic commit id; `history check` must find exactly one change point, a
# regression at the switch (c16), and exit 3. Also: adding a result again changes nothing.
#
#   .ci/history-test.sh IPCBENCH SLOWED_IPCBENCH WORK_DIR
set -euo pipefail
ib=$1 slow=$2 work=$3
start=$SECONDS
db="$work/history.sqlite"
rm -f "$db"
for i in $(seq 1 30); do
  c=$(printf 'c%02d' "$i")
  build=$ib
  if [ "$i" -gt 15 ]; then build=$slow; fi
  "$build" run -q -t uds -p round-trip -s 64 -n 2000 --socket-dir "$work" --out "$work/history-$c.json"
  "$ib" history add "$work/history-$c.json" --db "$db" --commit "$c" --branch ci --testbed ci 2>/dev/null
done
if ! "$ib" history add "$work/history-c01.json" --db "$db" --commit c01 --branch ci --testbed ci 2>&1 |
  grep -q 'in the history already'; then
  echo "history add of a result already stored did not say so" >&2
  exit 1
fi
rc=0
"$ib" history check --db "$db" --metric p50 --last 20 --format json >"$work/history-check.json" 2>/dev/null || rc=$?
"$ib" history check --db "$db" --metric p50 --last 20 || true
found=$(grep -c '"index":' "$work/history-check.json" || true)
if [ "$rc" != 3 ] || [ "$found" != 1 ] || ! grep -q '"commit": "c16"' "$work/history-check.json" ||
  ! grep -q '"direction": "regression"' "$work/history-check.json"; then
  echo "history check: exit $rc and $found change points; expected exit 3 and one regression at c16" >&2
  exit 1
fi
"$ib" history export --db "$db" --format csv --out "$work/history.csv"
[ "$(wc -l <"$work/history.csv")" = 31 ] || { echo "history export: not 30 commits and a header" >&2; exit 1; }
"$ib" report --history "$db" --out "$work/history.html"
echo "history: one regression change point at the switch (c16), exit 3, as it must ($((SECONDS - start)) s)"
