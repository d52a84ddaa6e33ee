// The audio callback's cost: backend -> input ring -> (worker: pass-through) -> output ring ->
// backend, at 64/128/256-frame periods, 2 channels, 48 kHz. The virtual-clock backend runs one
// period per iteration on the benchmark thread; between iterations (untimed) the worker is
// allowed to catch up, so every timed callback is a steady-state one (no underflow path).
// Reported: mean time per callback (the benchmark's own time) and the worst case as a counter
// (max_us), plus the share of the period budget the worst case uses (max_budget_pct).
#include "rt/backends/ring_pipeline.hpp"
#include "rt/backends/virtual_clock_backend.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

namespace {

using namespace earshot::rt;

void BM_AudioCallback(benchmark::State& state) {
  const auto period = static_cast<std::uint32_t>(state.range(0));
  constexpr double kRate = 48000.0;
  VirtualClockBackend backend(VirtualClockBackend::Clock::Manual);
  StreamConfig sc;
  sc.sample_rate = kRate;
  sc.period_frames = period;
  sc.input_channels = sc.output_channels = 2;
  backend.open(sc);
  PassThroughNode node(period);
  PipelineConfig pc;
  pc.input_channels = pc.output_channels = 2;
  pc.period_frames = period;
  pc.sample_rate = kRate;
  RingPipeline pipeline(node, pc);
  pipeline.start();
  backend.start(pipeline);

  double max_seconds = 0, total_seconds = 0;
  std::uint64_t callbacks = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    backend.run_periods(1);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    max_seconds = std::max(max_seconds, dt);
    total_seconds += dt;
    ++callbacks;
    pipeline.wait_until_caught_up();
  }
  backend.stop();
  pipeline.stop();
  const double period_seconds = period / kRate;
  state.counters["max_us"] = max_seconds * 1e6;
  state.counters["mean_us"] = callbacks ? total_seconds / callbacks * 1e6 : 0;
  state.counters["max_budget_pct"] = 100.0 * max_seconds / period_seconds;
  state.counters["underflows"] = static_cast<double>(pipeline.stats().underflows);
  state.SetItemsProcessed(static_cast<std::int64_t>(callbacks) * period);
}

BENCHMARK(BM_AudioCallback)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
