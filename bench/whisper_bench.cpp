// Whisper encoder and per-token decoder speed at the real tiny and base dimensions.
//
// Weights are random (WhisperModel::random: N(0, 1/fan_in) matrices, F32 or F16), generated in
// memory from the published configs, since speed does not depend on the values. Reported:
//  - BM_SgemmPeak: a plain Eigen sgemm (1500x384 by 384x1536, the encoder's MLP shape) on this
//    machine in this run: the reference for the encoder's GFLOP/s;
//  - BM_MemoryBandwidth: a streaming read of 256 MiB: the reference for per-token decode, whose
//    floor is (weight bytes read per token) / bandwidth;
//  - BM_WhisperEncoder: one 30 s window (mel [n_mels, 3000] -> [1500, d]), GFLOP/s counted from
//    the convolutions, projections, attention and MLPs;
//  - BM_WhisperDecodeToken: one token through the decoder and the logits at position ~64 with
//    the cross-attention K/V of a window already computed, and its bandwidth floor.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/whisper_decoder.hpp"
#include "models/whisper/whisper_encoder.hpp"

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <memory>
#include <random>
#include <vector>

namespace {
using namespace earshot::models::whisper;
namespace rt = earshot::rt;

WhisperConfig dims(bool base) {
  WhisperConfig c;
  c.n_mels = 80;
  c.n_vocab = 51865;
  c.n_audio_ctx = 1500;
  c.n_text_ctx = 448;
  c.d_model = base ? 512 : 384;
  c.encoder_layers = c.decoder_layers = base ? 6 : 4;
  c.encoder_heads = c.decoder_heads = base ? 8 : 6;
  c.encoder_ffn = c.decoder_ffn = 4 * c.d_model;
  c.source = base ? "base dims" : "tiny dims";
  return c;
}

double encoder_flops(const WhisperConfig& c) {
  const double t = c.n_audio_ctx, d = c.d_model, f = c.encoder_ffn;
  const double conv = 2.0 * 2 * t * d * c.n_mels * 3 + 2.0 * t * d * d * 3;
  const double layer = 2.0 * t * d * d * 4 + 2.0 * 2 * t * t * d + 2.0 * 2 * t * d * f;
  return conv + c.encoder_layers * layer;
}

// state.range(0) threads, each multiplying its share of b's rows (the split the kernels use).
void BM_SgemmPeak(benchmark::State& state) {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int m = 1500, k = 384, n = 1536;
  RowMat a = RowMat::Random(m, k), b = RowMat::Random(n, k), c(m, n);
  ThreadTeam team(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    parallel_for(&team, n, 16, [&](int j0, int j1, int) {
      c.middleCols(j0, j1 - j0).noalias() = a * b.middleRows(j0, j1 - j0).transpose();
    });
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::to_string(state.range(0)) + " thread(s)");
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SgemmPeak)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// state.range(0) threads each summing their share of a 256 MiB buffer (far larger than caches).
void BM_MemoryBandwidth(benchmark::State& state) {
  std::vector<float> buffer(64u << 20, 1.0f);
  ThreadTeam team(static_cast<int>(state.range(0)));
  std::vector<float> partial(static_cast<std::size_t>(team.size()) * 16);
  const int n = static_cast<int>(buffer.size());
  for (auto _ : state) {
    parallel_for(&team, n, 4096, [&](int b, int e, int w) {
      partial[static_cast<std::size_t>(w) * 16] =
          Eigen::Map<const Eigen::VectorXf>(buffer.data() + b, e - b).sum();
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(buffer.size()) * 4.0 * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::to_string(state.range(0)) + " thread(s)");
}
BENCHMARK(BM_MemoryBandwidth)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// state.range(0): 0 tiny, 1 base; state.range(1): 1 = F16 weights; state.range(2): threads.
void BM_WhisperEncoder(benchmark::State& state) {
  const WhisperConfig c = dims(state.range(0) == 1);
  rt::MemoryBudget budget(2ull << 30);
  auto model = WhisperModel::random(c, budget, state.range(1) == 1, 7);
  ThreadTeam team(static_cast<int>(state.range(2)));
  WhisperEncoder encoder(*model, budget, &team);
  std::vector<float> mel(static_cast<std::size_t>(c.n_mels) * c.n_mel_frames());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : mel) v = u(rng);
  std::vector<float> out(static_cast<std::size_t>(c.n_audio_ctx) * c.d_model);
  for (auto _ : state) {
    encoder.forward(mel.data(), c.n_mels, c.n_mel_frames(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(encoder_flops(c) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(c.source) + (state.range(1) ? ", F16 weights, " : ", F32 weights, ") +
                 std::to_string(state.range(2)) + " thread(s)");
}
BENCHMARK(BM_WhisperEncoder)
    ->ArgsProduct({{0, 1}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

void BM_WhisperDecodeToken(benchmark::State& state) {
  const WhisperConfig c = dims(state.range(0) == 1);
  const bool f16 = state.range(1) == 1;
  rt::MemoryBudget budget(2ull << 30);
  auto model = WhisperModel::random(c, budget, f16, 7);
  ThreadTeam team(static_cast<int>(state.range(2)));
  WhisperDecoder decoder(*model, budget, 1, &team);
  std::vector<float> features(static_cast<std::size_t>(c.n_audio_ctx) * c.d_model, 0.1f);
  decoder.set_audio(features.data());
  std::vector<int> prompt(64, 1000);
  std::vector<float> logits(static_cast<std::size_t>(c.n_vocab));
  decoder.forward(0, prompt.data(), 64);
  const int token = 2000;
  for (auto _ : state) {
    decoder.truncate(0, 64);
    const float* h = decoder.forward(0, &token, 1);
    decoder.logits(h, 1, logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  // Bytes one token reads: every decoder matrix except the cross K/V projections, the output
  // projection, the cross K/V of the window and the self K/V cache.
  const double wbytes = f16 ? 2.0 : 4.0;
  const double d = c.d_model, f = c.decoder_ffn;
  const double per_layer =
      (4 * d * d + 2 * d * d + 2 * d * f) * wbytes + 2.0 * c.n_audio_ctx * d * 4 + 2.0 * 65 * d * 4;
  const double bytes = c.decoder_layers * per_layer + c.n_vocab * d * wbytes;
  state.counters["MB/token"] = bytes * 1e-6;
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(c.source) + (f16 ? ", F16 weights, " : ", F32 weights, ") +
                 std::to_string(state.range(2)) + " thread(s)");
}
BENCHMARK(BM_WhisperDecodeToken)
    ->ArgsProduct({{0, 1}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
