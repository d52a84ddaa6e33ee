// Worker headroom of the live stems node (`earshot stems --jack`, nodes/stems): the node's
// worker must finish one chunk per stride of audio, so
//     headroom = (stride / rate) / (seconds to push a stride and separate one chunk)
// must stay above 1 (above 1 + margin/stride to ride out jitter). This runs exactly the
// worker's loop (ChunkedSeparator over an endless stream, pushed a JACK-sized period at a
// time) on the fixture models, with the fixtures' music as input.
//   counters: headroom, ms_per_chunk, rt_factor (audio seconds per compute second), threads.
// The argument is the thread count (`--threads N` of stems and deck: an rt::ThreadTeam whose
// worker 0 is the node's worker thread).
// Fixture models are small (0.65-0.975 s segments); the full-size model's seconds per segment
// are in earshot_htdemucs_bench.
#include "models/htdemucs/separator.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

std::string fixture_dir(const std::string& name) {
  const char* env = std::getenv("EARSHOT_FIXTURES");
  const std::filesystem::path root = env != nullptr && *env != '\0' ? env : "/work/shared/fixtures";
  return (root / "htdemucs" / name).string();
}

void BM_LiveWorkerChunk(benchmark::State& state, const std::string& model) {
  using namespace earshot;
  rt::MemoryBudget budget(std::size_t{1} << 30);
  rt::ThreadTeam team(static_cast<int>(state.range(0)));  // outlives the model
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(fixture_dir(model), budget, &team);
  htdemucs::ChunkedSeparator sep(bag, htdemucs::ChunkedSeparator::kUnknownLength, {}, budget);
  // A deterministic music-like stereo signal (chords and noise bursts): the cost does not
  // depend on the content, only on the shapes.
  constexpr int kPeriod = 256;
  std::vector<float> period(kPeriod * 2);
  std::int64_t t = 0;
  std::uint32_t seed = 1;
  auto fill = [&] {
    for (int i = 0; i < kPeriod; ++i, ++t) {
      seed = seed * 1664525u + 1013904223u;
      const double x = 0.2 * std::sin(2 * M_PI * 220.0 * t / 44100.0) +
                       0.1 * std::sin(2 * M_PI * 277.2 * t / 44100.0) +
                       0.05 * ((seed >> 9) * (1.0 / 8388608.0) - 1.0);
      period[i * 2] = static_cast<float>(x);
      period[i * 2 + 1] = static_cast<float>(0.8 * x);
    }
  };
  std::int64_t chunks = 0, used = kPeriod;  // frames of `period` already pushed
  double seconds = 0;
  for (auto _ : state) {
    // One chunk of the worker loop: push periods until a chunk is ready, then separate it.
    const auto begin = std::chrono::steady_clock::now();
    while (!sep.ready()) {
      if (used == kPeriod) {
        fill();
        used = 0;
      }
      const std::int64_t n = std::min<std::int64_t>(kPeriod - used, sep.frames_wanted());
      sep.push(period.data() + used * 2, n);
      used += n;
    }
    benchmark::DoNotOptimize(sep.process());
    ++chunks;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  }
  const double stride_s = static_cast<double>(sep.stride()) / bag.samplerate();
  const double per_chunk = seconds / static_cast<double>(chunks);
  state.counters["ms_per_chunk"] = 1000.0 * per_chunk;
  state.counters["stride_ms"] = 1000.0 * stride_s;
  state.counters["headroom"] = stride_s / per_chunk;
  state.counters["rt_factor"] = stride_s / per_chunk;
  state.counters["threads"] = static_cast<double>(state.range(0));
}

BENCHMARK_CAPTURE(BM_LiveWorkerChunk, small4, std::string("small4"))
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(8);
BENCHMARK_CAPTURE(BM_LiveWorkerChunk, small6, std::string("small6"))
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(8);

}  // namespace

BENCHMARK_MAIN();
