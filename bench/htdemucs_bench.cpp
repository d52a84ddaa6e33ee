// Full-size HTDemucs (channels 48, bottom_channels 512, segment 39/5 s = 343980 samples, the
// pretrained htdemucs architecture, ~42M parameters) with random weights built in memory.
//
// Reports, for one 7.8 s segment: the FLOP count (2 x multiply-adds of every conv, transposed
// conv and matrix product), seconds per segment, the real-time factor, GFLOP/s per stage next
// to the single-thread Eigen sgemm peak measured in the same run, and the peak RSS.
//
//   earshot_htdemucs_bench [--benchmark_filter=...]   (segment runs are slow: ~seconds each)
#include "models/core/half.hpp"
#include "models/core/safetensors.hpp"
#include "models/htdemucs/htdemucs.hpp"
#include "models/htdemucs/ops.hpp"
#include "rt/memory_budget.hpp"

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace earshot;
using namespace earshot::htdemucs;

HTDemucsConfig full_size_config() {
  HTDemucsConfig c;  // defaults are htdemucs' except what the mmi grid overrides
  c.sources = {"drums", "bass", "other", "vocals"};
  c.segment_num = 39;
  c.segment_den = 5;
  c.channels = 48;
  c.bottom_channels = 512;
  c.dconv_mode = 3;
  c.depth = 4;
  c.t_layers = 5;
  return c;
}

// A safetensors image (F16, like the released checkpoints) of random weights scaled
// 1/sqrt(fan_in), norms at identity, LayerScales small: activations stay in a sane range.
std::vector<std::byte> random_weights(const HTDemucsConfig& c, std::size_t& params) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::uint16_t> data;
  params = 0;
  for (const auto& spec : HTDemucsWeights::expected_tensors(c)) {
    std::size_t n = 1;
    for (auto d : spec.shape) n *= static_cast<std::size_t>(d);
    const std::size_t fan_in =
        spec.shape.size() > 1 ? n / static_cast<std::size_t>(spec.shape[0]) : 1;
    const bool is_norm_weight = spec.shape.size() == 1 &&
                                spec.name.find("norm") != std::string::npos &&
                                spec.name.ends_with(".weight");
    const bool is_scale = spec.name.ends_with(".scale");
    const bool is_dconv_norm =
        spec.shape.size() == 1 && spec.name.find("dconv") != std::string::npos &&
        (spec.name.ends_with(".1.weight") || spec.name.ends_with(".4.weight"));
    header[spec.name] = {{"dtype", "F16"},
                         {"shape", spec.shape},
                         {"data_offsets", {data.size() * 2, (data.size() + n) * 2}}};
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      if (is_norm_weight || is_dconv_norm)
        v = 1.0f;
      else if (is_scale)
        v = 0.1f;
      else if (spec.shape.size() == 1)
        v = 0.0f;
      else
        v = normal(rng) / std::sqrt(static_cast<float>(fan_in));
      data.push_back(models::f32_to_f16(v));
    }
    params += n;
  }
  const std::string text = header.dump();
  std::vector<std::byte> image(8 + text.size() + data.size() * 2);
  const std::uint64_t len = text.size();
  std::memcpy(image.data(), &len, 8);
  std::memcpy(image.data() + 8, text.data(), text.size());
  std::memcpy(image.data() + 8 + text.size(), data.data(), data.size() * 2);
  return image;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

// The single-thread Eigen sgemm peak, on a square product big enough to be compute-bound.
double g_sgemm_gflops = 0.0;

void BM_SgemmPeak(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  for (auto _ : state) {
    gemm(false, false, n, n, n, a.data(), n, b.data(), n, c.data(), n, 0.0f);
    benchmark::DoNotOptimize(c.data());
  }
  const double flops = 2.0 * n * n * n;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SgemmPeak)->Arg(1024)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// Times the intervals between the model's stage taps.
class StageTimer : public Probe {
 public:
  void start() { last_ = Clock::now(); }
  void tap(std::string_view stage, std::span<const float>) override {
    const auto now = Clock::now();
    seconds[std::string(stage)] += std::chrono::duration<double>(now - last_).count();
    last_ = Clock::now();
  }
  std::map<std::string, double> seconds;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_;
};

void BM_HTDemucsSegment(benchmark::State& state) {
  const HTDemucsConfig config = full_size_config();
  rt::MemoryBudget budget(std::size_t{4} << 30);
  std::unique_ptr<HTDemucs> model;
  std::size_t params = 0;
  {
    auto image = random_weights(config, params);
    auto file = models::SafetensorsFile::from_bytes(image, "random full-size htdemucs");
    model = std::make_unique<HTDemucs>(config, file, budget);
  }
  const std::int64_t L = model->segment_length();
  std::vector<float> mix(2 * static_cast<std::size_t>(L)), out(8 * static_cast<std::size_t>(L));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-0.5f, 0.5f);
  for (float& v : mix) v = uni(rng);

  StageTimer timer;
  model->set_probe(&timer);
  for (auto _ : state) {
    timer.start();
    model->forward(mix.data(), L, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const auto costs = model->stage_costs();
  double total_flops = 0.0;
  for (const auto& s : costs) total_flops += s.flops;
  const double iters = static_cast<double>(state.iterations());
  double total_s = 0.0;
  for (const auto& [name, s] : timer.seconds) total_s += s;
  total_s /= iters;
  const double audio_s = static_cast<double>(L) / config.samplerate;
  state.counters["params_M"] = static_cast<double>(params) * 1e-6;
  state.counters["GFLOP_per_segment"] = total_flops * 1e-9;
  state.counters["s_per_segment"] = total_s;
  state.counters["realtime_factor"] = audio_s / total_s;
  // Live separation (overlap 0.25) must finish one segment per stride of audio; this forward
  // is single-threaded, so a margin above 1 means one core keeps up.
  const double stride_s = 0.75 * audio_s;
  state.counters["live_margin_1core"] = stride_s / total_s;
  state.counters["GFLOP/s"] = total_flops * 1e-9 / total_s;
  state.counters["peak_RSS_MiB"] = peak_rss_mib();
  state.counters["budget_MiB"] = static_cast<double>(budget.peak()) / (1 << 20);
  if (g_sgemm_gflops > 0) {
    state.counters["sgemm_peak_GFLOP/s"] = g_sgemm_gflops;
    state.counters["floor_s_at_peak"] = total_flops * 1e-9 / g_sgemm_gflops;
  }
  std::fprintf(stderr, "\nHTDemucs full size: %.1fM params, %.1f GFLOP per %.2f s segment\n",
               params * 1e-6, total_flops * 1e-9, audio_s);
  std::fprintf(stderr, "live (overlap 0.25): %.2f s of compute per %.2f s stride on one core: %s\n",
               total_s, stride_s, total_s < stride_s ? "one core keeps up" : "needs more cores");
  std::fprintf(stderr, "%-18s %10s %9s %9s %8s\n", "stage", "GFLOP", "ms", "GFLOP/s", "% peak");
  for (const auto& s : costs) {
    const double sec = timer.seconds[s.name] / iters;
    const double rate = sec > 0 ? s.flops * 1e-9 / sec : 0.0;
    std::fprintf(stderr, "%-18s %10.2f %9.1f %9.1f %7.0f%%\n", s.name.c_str(), s.flops * 1e-9,
                 sec * 1e3, rate, g_sgemm_gflops > 0 ? 100.0 * rate / g_sgemm_gflops : 0.0);
  }
}
BENCHMARK(BM_HTDemucsSegment)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

// Runs the sgemm benchmark first to know the peak, then the model.
class PeakReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.benchmark_name().rfind("BM_SgemmPeak", 0) == 0) {
        auto it = r.counters.find("GFLOP/s");
        if (it != r.counters.end()) g_sgemm_gflops = it->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  PeakReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
