#!/usr/bin/env bash
# Fuzz every harness of a fuzz build for SECONDS each (or only the NAMEs
# given), starting from a temporary copy of its committed seed corpus
# (tests/fuzz/corpus/NAME) with its dictionary (tests/fuzz/NAME.dict).
# Fails if any harness found a crash, a leak, a timeout, an out-of-memory
# or a sanitizer report, and prints the reproducer and how to replay it.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
#
# BUILD_DIR is a clang build with -Dfuzz=true (see tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [NAME...]" >&2
  exit 2
fi
BUILD=$1
SECS=$2
shift 2

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for exe in "$BUILD"/tests/fuzz/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] && names+=("${exe##*/fuzz_}")
  done
fi
if [ ${#names[@]} -eq 0 ]; then
  echo "fuzz: no harnesses in $BUILD/tests/fuzz (set it up with -Dfuzz=true)" >&2
  exit 1
fi

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi

failed=()
for name in "${names[@]}"; do
  exe=$BUILD/tests/fuzz/fuzz_$name
  seeds=tests/fuzz/corpus/$name
  dict=tests/fuzz/$name.dict
  if [ ! -x "$exe" ]; then
    echo "fuzz_$name: no executable $exe" >&2
    failed+=("$name")
    continue
  fi
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "fuzz_$name: no seed corpus in $seeds" >&2
    failed+=("$name")
    continue
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/vireo-fuzz-$name.XXXXXX")
  cp -R "$seeds" "$work/corpus"
  mkdir "$work/artifacts"
  args=(-max_total_time="$SECS" -timeout=5 -rss_limit_mb=2048
        -artifact_prefix="$work/artifacts/" -print_final_stats=1)
  [ -f "$dict" ] && args+=(-dict="$dict")
  nseeds=$(ls "$work/corpus" | wc -l)

  rc=0
  # libFuzzer stops itself after SECS; the outer bound is for a run that
  # hangs outside an input (a timeout inside one is reported at 5 s)
  timeout --signal=KILL $((SECS * 2 + 120)) \
    "$exe" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?

  artifacts=$(ls "$work/artifacts")
  if [ "$rc" -ne 0 ] || [ -n "$artifacts" ] ||
     grep -q -E 'runtime error:|ERROR: [A-Za-z]+Sanitizer|check failed:' "$work/log"; then
    echo "fuzz_$name: FAILED (exit $rc); log: $work/log" >&2
    grep -E -A30 'runtime error:|ERROR: |check failed:|==[0-9]+==' "$work/log" \
      | head -60 >&2 || tail -40 "$work/log" >&2
    for a in $artifacts; do
      echo "fuzz_$name: reproducer $work/artifacts/$a" >&2
      echo "  replay: $exe $work/artifacts/$a" >&2
    done
    failed+=("$name")
    continue
  fi
  # "#123456 DONE cov: 85 ft: 199 corp: 45/4518b lim: 3447 exec/s: 36530 ..."
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1)
  runs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")
  cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$done_line")
  ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$done_line")
  corp=$(sed -E 's/.*corp: ([0-9]+)\/.*/\1/' <<<"$done_line")
  eps=$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$done_line")
  echo "fuzz_$name: ok, ${SECS} s, $runs runs, $eps exec/s, cov $cov, ft $ft," \
       "corpus $nseeds -> $corp"
  rm -rf "$work"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#names[@]} harnesses, ${SECS} s each, no findings"
