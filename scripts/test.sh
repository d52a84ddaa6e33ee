#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is needed, then
#   1. builds the real-time tests under ThreadSanitizer and runs them (label rt),
#   2. builds the libFuzzer targets with clang and runs each briefly,
#   3. builds the Release tree (scripts/setup.sh) and runs the tests labelled `stems_live` and
#      `portaudio` there:
#      they run a model worker against a real-time JACK clock, which ASan slows too much,
#   4. builds everything under AddressSanitizer + UndefinedBehaviorSanitizer and runs the rest
#      of the suite; ctest's summary of this run is the last thing printed.
# EARSHOT_TEST_JOBS sets ctest's parallelism (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps-only

# ccache across checkouts: CI builds a fresh clone in a new folder, so hash paths relative to the
# checkout and leave the folder itself out of the hash.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

jobs="$(nproc)"
ctest_jobs="${EARSHOT_TEST_JOBS:-$jobs}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

echo "== ThreadSanitizer: real-time tests"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEARSHOT_SANITIZE=thread \
  -DEARSHOT_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target earshot_rt_tests
ctest --test-dir build-tsan -L '^rt$' -j"$ctest_jobs" --output-on-failure

echo "== libFuzzer (clang): weight-file readers"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEARSHOT_FUZZ=ON -DEARSHOT_BUILD_TESTS=OFF -DEARSHOT_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target earshot_fuzz_targets
for fuzzer in build-fuzz/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name="$(basename "$fuzzer")"
  echo "-- $name"
  # Work on a copy of the seed corpus so the checkout stays clean.
  rm -rf "build-fuzz/corpus/$name" && mkdir -p "build-fuzz/corpus/$name"
  cp -r "fuzz/corpus/$name/." "build-fuzz/corpus/$name/" 2>/dev/null || true
  "$fuzzer" -max_total_time="${EARSHOT_FUZZ_SECONDS:-20}" -print_final_stats=0 -artifact_prefix=build-fuzz/ \
    "build-fuzz/corpus/$name" > "build-fuzz/$name.log" 2>&1 || { tail -n 40 "build-fuzz/$name.log"; exit 1; }
  tail -n 1 "build-fuzz/$name.log"
done

echo "== Release: real-time model tests"
scripts/setup.sh
ctest --test-dir build -L '^(stems_live|portaudio)$' -j1 --output-on-failure

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: whole suite but the real-time model tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEARSHOT_SANITIZE=address \
  -DEARSHOT_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan -LE '^(stems_live|portaudio)$' -j"$ctest_jobs" --output-on-failure
