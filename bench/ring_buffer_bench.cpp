// SpscRing throughput: samples/s for single-sample and bulk (64/256/1024) copies on one thread,
// the zero-copy planar helpers, and producer -> consumer across two threads.
// Run: build/bench/earshot_ring_buffer_bench  (items_per_second = samples/s)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <thread>
#include <vector>

#include "rt/interleave.hpp"
#include "rt/ring_buffer.hpp"

namespace {

using earshot::rt::SpscRing;

// One thread writes a sample and reads it back: the per-call overhead.
void BM_SingleSample(benchmark::State& state) {
  SpscRing<float> ring(4096);
  float in = 1.0f, out = 0.0f;
  for (auto _ : state) {
    ring.push(in);
    ring.pop(out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SingleSample);

// One thread writes a block and reads it back. One extra sample sits in the ring so the block
// boundaries drift against the storage end and some copies wrap, as they do in real use.
void BM_Bulk(benchmark::State& state) {
  const auto block = static_cast<std::size_t>(state.range(0));
  SpscRing<float> ring(4096);
  std::vector<float> in(block, 1.0f), out(block + 1);
  ring.push(0.0f);
  for (auto _ : state) {
    ring.write(in);
    ring.read({out.data(), block});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(block));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(block * sizeof(float)));
}
BENCHMARK(BM_Bulk)->Arg(64)->Arg(256)->Arg(1024);

// Stereo planar -> interleaved ring -> planar, the shape of a JACK period.
void BM_PlanarStereo(benchmark::State& state) {
  const auto frames = static_cast<std::size_t>(state.range(0));
  SpscRing<float> ring(8192);
  std::vector<float> l(frames, 1.0f), r(frames, -1.0f), ol(frames), orr(frames);
  std::array<const float*, 2> in = {l.data(), r.data()};
  std::array<float*, 2> out = {ol.data(), orr.data()};
  for (auto _ : state) {
    earshot::rt::write_planar<float>(ring, in, frames);
    earshot::rt::read_planar<float>(ring, out, frames);
    benchmark::DoNotOptimize(ol.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * frames));
}
BENCHMARK(BM_PlanarStereo)->Arg(64)->Arg(256)->Arg(1024);

// Producer and consumer on two threads move 2^22 samples per iteration in blocks of
// `range(0)` samples (1 = sample by sample) through a 16384-sample ring.
void BM_TwoThreads(benchmark::State& state) {
  const auto block = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kSamples = std::size_t{1} << 22;
  for (auto _ : state) {
    SpscRing<float> ring(16384);
    std::thread producer([&] {
      std::vector<float> in(block, 1.0f);
      std::size_t sent = 0;
      while (sent < kSamples) {
        const std::size_t n = ring.write({in.data(), std::min(block, kSamples - sent)});
        if (n == 0) std::this_thread::yield();
        sent += n;
      }
    });
    std::vector<float> out(block);
    std::size_t received = 0;
    while (received < kSamples) {
      const std::size_t n = ring.read(out);
      if (n == 0) std::this_thread::yield();
      received += n;
    }
    producer.join();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kSamples));
}
BENCHMARK(BM_TwoThreads)
    ->Arg(1)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
