// Whisper encoder and per-token decoder speed at the real tiny and base dimensions (issue 3).
//
// Weights: WhisperModel::random(config, budget, f16, seed) fills every tensor of the published
// tiny/base shapes (dims() below: 80 mels, 51865 tokens, 1500 audio / 448 text positions,
// d = 384/512, 4/6 layers, 6/8 heads, MLP 4d) with N(0, 1/fan_in) values, stored F16 like the
// released checkpoints; speed does not depend on the values.
//
// The machine is shared, so every efficiency is a ratio measured inside the same benchmark,
// interleaved with the model run (a probe after every timed iteration, best probe kept):
//  - "peak": the best single-thread sgemm throughput of Eigen's GEBP kernel on the encoder's
//    MLP shape (1500x384 times 384x1536, F32), counted per CPU-second of that thread
//    (CLOCK_THREAD_CPUTIME_ID), i.e. what one core sustains on a well-shaped GEMM. With T
//    threads the peak is T times that.
//  - encoder "of_peak": model FLOPs per CPU-second of the whole process (CLOCK_PROCESS_CPUTIME_ID,
//    so spinning/idle workers count against it) divided by the one-core peak. "wall_of_peak"
//    uses wall time and T cores instead (meaningful on a quiet machine only).
//  - "bandwidth": a streaming read of 256 MiB with the same number of threads (GB/s, wall time);
//    the decode "floor" is the bytes one token must read (weights, cross-attention K/V of the
//    window, the self-attention cache) divided by it, and "x_floor" is token time / floor.
//  - encoder "ms" is the best wall time; "cpu_ms" is the best process CPU time. Decode: the
//    "Time" column is the mean wall time per token, "best_ms" / "median_ms" the best / median
//    token, "x_floor" / "x_floor_med" those over the floor. After the table, a per-stage
//    breakdown of one token (median per stage, its bytes, GB/s and x_floor) is printed.
// Cases: tiny and base, 1 and 2 threads, the full 30 s window (1500 audio positions) and a
// reduced 10 s context (1000 mel frames -> 500 positions, decoder set_audio(..., 500)).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/whisper_decoder.hpp"
#include "models/whisper/whisper_encoder.hpp"

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {
using namespace earshot::models::whisper;
namespace rt = earshot::rt;
using Clock = std::chrono::steady_clock;

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
  c.source = base ? "base" : "tiny";
  return c;
}

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double wall_seconds() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one;
}

// FLOPs of the encoder for `t` audio positions (2 per multiply-add): both convolutions, the
// four attention projections, QK^T and PV, and the MLP.
double encoder_flops(const WhisperConfig& c, int t) {
  const double d = c.d_model, f = c.encoder_ffn, tt = t;
  const double conv = 2.0 * (2 * tt) * d * c.n_mels * 3 + 2.0 * tt * d * d * 3;
  const double layer = 2.0 * tt * d * d * 4 + 2.0 * 2 * tt * tt * d + 2.0 * 2 * tt * d * f;
  return conv + c.encoder_layers * layer;
}

// Single-thread Eigen sgemm on the encoder's MLP shape; returns GFLOP per thread CPU-second.
class SgemmProbe {
 public:
  SgemmProbe() : a_(RowMat::Random(kM, kK)), b_(RowMat::Random(kN, kK)), c_(kM, kN) {}
  double run() {
    const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    c_.noalias() = a_ * b_.transpose();
    benchmark::DoNotOptimize(c_.data());
    const double dt = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
    return 2.0 * kM * kN * kK * 1e-9 / dt;
  }

 private:
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static constexpr int kM = 1500, kK = 384, kN = 1536;
  RowMat a_, b_, c_;
};

// Streaming read of 256 MiB split between the team's threads; returns GB/s (wall time).
class BandwidthProbe {
 public:
  explicit BandwidthProbe(Parallel* team)
      : team_(team), buffer_(64u << 20, 1.0f), partial_(16u * parallel_size(team)) {}
  double run() {
    const int n = static_cast<int>(buffer_.size());
    const double t0 = wall_seconds();
    parallel_for(team_, n, 4096, [&](int b, int e, int w) {
      partial_[static_cast<std::size_t>(w) * 16] =
          Eigen::Map<const Eigen::VectorXf>(buffer_.data() + b, e - b).sum();
    });
    benchmark::DoNotOptimize(partial_.data());
    return static_cast<double>(buffer_.size()) * 4.0 * 1e-9 / (wall_seconds() - t0);
  }

 private:
  Parallel* team_;
  std::vector<float> buffer_;
  std::vector<float> partial_;
};

std::string label(const WhisperConfig& c, int threads, int audio_ctx) {
  return std::string(c.source) + ", F16 weights, " + std::to_string(threads) + " thread(s), " +
         std::to_string(audio_ctx) + " audio positions, load " + load_average();
}

// Args: model (0 tiny, 1 base), threads, mel frames (3000 = 30 s, 1000 = 10 s).
void BM_WhisperEncoder(benchmark::State& state) {
  const WhisperConfig c = dims(state.range(0) == 1);
  const int threads = static_cast<int>(state.range(1));
  const int frames = static_cast<int>(state.range(2));
  rt::MemoryBudget budget(2ull << 30);
  auto model = WhisperModel::random(c, budget, true, 7);
  ThreadTeam team(threads);
  WhisperEncoder encoder(*model, budget, &team);
  std::vector<float> mel(static_cast<std::size_t>(c.n_mels) * frames);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : mel) v = u(rng);
  std::vector<float> out(static_cast<std::size_t>(frames / 2) * c.d_model);
  SgemmProbe probe;
  double peak = 0.0, best_wall = 1e30, best_cpu = 1e30;
  for (auto _ : state) {
    const double w0 = wall_seconds(), c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    encoder.forward(mel.data(), c.n_mels, frames, out.data());
    benchmark::DoNotOptimize(out.data());
    const double cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = wall_seconds() - w0;
    state.SetIterationTime(wall);
    best_wall = std::min(best_wall, wall);
    best_cpu = std::min(best_cpu, cpu);
    peak = std::max(peak, probe.run());
  }
  const double gflop = encoder_flops(c, frames / 2) * 1e-9;
  state.counters["ms"] = best_wall * 1e3;
  state.counters["cpu_ms"] = best_cpu * 1e3;
  state.counters["GFLOP/s"] = gflop / best_wall;
  state.counters["GFLOP/cpu_s"] = gflop / best_cpu;
  state.counters["peak_1core"] = peak;
  state.counters["of_peak"] = gflop / best_cpu / peak;
  state.counters["wall_of_peak"] = gflop / best_wall / (peak * threads);
  state.SetLabel(label(c, threads, frames / 2));
}
BENCHMARK(BM_WhisperEncoder)
    ->ArgsProduct({{0, 1}, {1, 2}, {3000, 1000}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseManualTime();

// Per-stage breakdown of one token, printed after the benchmark table (one block per case).
struct StageReport {
  std::string key;  // model/threads/positions
  std::string name;
  std::array<double, kDecodeStages> ms{};     // median over iterations
  std::array<double, kDecodeStages> bytes{};  // bytes the stage must read
  double bandwidth = 0.0;                     // GB/s of the same run's read probe
};
std::vector<StageReport>& stage_reports() {
  static std::vector<StageReport> reports;
  return reports;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// One token through the decoder and the logits at position 64 (the prompt is cached), with the
// cross-attention K/V of a window already computed. Args: model, threads, audio positions,
// cross K/V storage bits (16: F16, the default; 32: F32).
// Reported: the "Time" column is the MEAN wall time per token; best_ms and median_ms are the
// best and median token; x_floor = best / floor and x_floor_med = median / floor.
void BM_WhisperDecodeToken(benchmark::State& state) {
  const WhisperConfig c = dims(state.range(0) == 1);
  const int threads = static_cast<int>(state.range(1));
  const int audio_ctx = static_cast<int>(state.range(2));
  const CrossKvPrecision kv =
      state.range(3) == 32 ? CrossKvPrecision::kF32 : CrossKvPrecision::kF16;
  rt::MemoryBudget budget(2ull << 30);
  auto model = WhisperModel::random(c, budget, true, 7);
  ThreadTeam team(threads);
  WhisperDecoder decoder(*model, budget, 1, &team, kv);
  std::vector<float> features(static_cast<std::size_t>(c.n_audio_ctx) * c.d_model, 0.1f);
  decoder.set_audio(features.data(), audio_ctx);
  constexpr int kPrompt = 64;
  std::vector<int> prompt(kPrompt, 1000);
  std::vector<float> logits(static_cast<std::size_t>(c.n_vocab));
  decoder.forward(0, prompt.data(), kPrompt);
  BandwidthProbe probe(&team);
  const int token = 2000;
  double bandwidth = 0.0, best_cpu = 1e30, sum_wall = 0.0;
  std::vector<double> walls;
  std::array<std::vector<double>, kDecodeStages> stage_s;
  walls.reserve(1u << 16);
  for (auto& v : stage_s) v.reserve(1u << 16);
  DecodeProfile profile;
  decoder.set_profile(&profile);
  std::int64_t n = 0;
  for (auto _ : state) {
    decoder.truncate(0, kPrompt);
    profile.clear();
    const double w0 = wall_seconds(), c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    const float* h = decoder.forward(0, &token, 1);
    decoder.logits(h, 1, logits.data());
    benchmark::DoNotOptimize(logits.data());
    const double cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = wall_seconds() - w0;
    state.SetIterationTime(wall);
    walls.push_back(wall);
    for (std::size_t s = 0; s < kDecodeStages; ++s) stage_s[s].push_back(profile.seconds[s]);
    best_cpu = std::min(best_cpu, cpu);
    sum_wall += wall;
    if (n++ % 16 == 0) bandwidth = std::max(bandwidth, probe.run());
  }
  decoder.set_profile(nullptr);
  // Bytes one token reads: every decoder matrix except the cross K/V projections (F16), the
  // output projection E (F16), the cross K/V of the window (F16 by default, F32 for the "32"
  // cases) and the self K/V cache (F32).
  const double d = c.d_model, f = c.decoder_ffn, L = c.decoder_layers;
  StageReport report;
  report.key = std::string(c.source) + "/" + std::to_string(threads) + "/" +
               std::to_string(audio_ctx) + "/" + std::to_string(state.range(3));
  report.name = label(c, threads, audio_ctx) + ", cross K/V " +
                (kv == CrossKvPrecision::kF16 ? "F16" : "F32");
  report.bandwidth = bandwidth;
  auto stage = [](DecodeStage s) { return static_cast<std::size_t>(s); };
  report.bytes[stage(DecodeStage::kSelfProjections)] = L * 4 * d * d * 2.0;
  report.bytes[stage(DecodeStage::kSelfAttention)] = L * 2.0 * (kPrompt + 1) * d * 4;
  report.bytes[stage(DecodeStage::kCrossProjections)] = L * 2 * d * d * 2.0;
  report.bytes[stage(DecodeStage::kCrossAttention)] =
      L * 2.0 * audio_ctx * d * decoder.cross_kv_bytes_per_value();
  report.bytes[stage(DecodeStage::kMlp)] = L * 2 * d * f * 2.0;
  report.bytes[stage(DecodeStage::kLogits)] = c.n_vocab * d * 2.0;
  double bytes = 0.0;
  for (std::size_t s = 0; s < kDecodeStages; ++s) {
    bytes += report.bytes[s];
    report.ms[s] = median(stage_s[s]) * 1e3;
  }
  const double best_wall = walls.empty() ? 0.0 : *std::min_element(walls.begin(), walls.end());
  const double median_wall = median(walls);
  const double floor_s = bytes * 1e-9 / bandwidth;
  state.counters["MB/token"] = bytes * 1e-6;
  state.counters["best_ms"] = best_wall * 1e3;
  state.counters["median_ms"] = median_wall * 1e3;
  state.counters["mean_ms"] = sum_wall / static_cast<double>(std::max<std::int64_t>(n, 1)) * 1e3;
  state.counters["cpu_ms"] = best_cpu * 1e3;
  state.counters["GB/s"] = bandwidth;
  state.counters["floor_ms"] = floor_s * 1e3;
  state.counters["x_floor"] = best_wall / floor_s;
  state.counters["x_floor_med"] = median_wall / floor_s;
  state.SetLabel(report.name);
  // Google Benchmark calls this function several times while sizing the run; the last wins.
  auto& reports = stage_reports();
  auto it = std::find_if(reports.begin(), reports.end(),
                         [&](const StageReport& r) { return r.key == report.key; });
  if (it != reports.end())
    *it = report;
  else
    reports.push_back(report);
}
BENCHMARK(BM_WhisperDecodeToken)
    ->ArgsProduct({{0, 1}, {1, 2}, {1500, 500}, {16}})
    ->Args({0, 2, 1500, 32})
    ->Args({1, 2, 1500, 32})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0)
    ->UseManualTime();

void print_stage_reports() {
  for (const StageReport& r : stage_reports()) {
    std::printf("\nOne decode token, per stage (median ms over iterations): %s\n", r.name.c_str());
    std::printf("  %-28s %9s %9s %9s %9s\n", "stage", "ms", "MB", "GB/s", "x_floor");
    double ms = 0.0, bytes = 0.0;
    for (std::size_t s = 0; s < kDecodeStages; ++s) {
      const double floor_ms = r.bytes[s] * 1e-6 / r.bandwidth;
      std::printf("  %-28s %9.3f %9.2f %9.2f %9.2f\n",
                  decode_stage_name(static_cast<DecodeStage>(s)), r.ms[s], r.bytes[s] * 1e-6,
                  r.ms[s] > 0 ? r.bytes[s] * 1e-6 / r.ms[s] : 0.0,
                  floor_ms > 0 ? r.ms[s] / floor_ms : 0.0);
      ms += r.ms[s];
      bytes += r.bytes[s];
    }
    std::printf("  %-28s %9.3f %9.2f %9.2f %9.2f   (read probe %.1f GB/s)\n", "sum of medians", ms,
                bytes * 1e-6, bytes * 1e-6 / ms, ms / (bytes * 1e-6 / r.bandwidth), r.bandwidth);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_stage_reports();
  return 0;
}
