// EnCodec 24 kHz at full published size (num_filters 32, hidden 128, codebook_dim 128, 32
// codebooks of 1024) with random weights generated in memory: offline decode and encode of 5 s,
// and streaming decode one frame (13.3 ms of audio) per push with latency percentiles.
// Single-threaded (EIGEN_DONT_PARALLELIZE): every figure is one core.
#include <benchmark/benchmark.h>

#include "models/encodec/encodec_model.hpp"
#include "models/encodec/parameter_list.hpp"
#include "models/encodec/streaming_decoder.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

namespace {

using namespace earshot;
using namespace earshot::encodec;

constexpr std::int64_t kFrames = 375;  // 5 s at 75 frames/s
constexpr std::int64_t kSamples = kFrames * 320;
constexpr int kNq = 8;  // 6 kbps

// Random weights in the published layout, written to a temporary safetensors file: conv
// directions N(0, 1/fan_in) with g = |v| (unit gain), LSTM U(+-1/sqrt(H)), codebooks N(0, 0.1).
std::filesystem::path write_random_checkpoint(const EncodecConfig& config) {
  std::mt19937 rng(7);
  nlohmann::json header = nlohmann::json::object();
  std::vector<float> data;
  for (const auto& p : encodec_parameter_shapes(config)) {
    std::int64_t n = 1;
    for (auto d : p.shape) n *= d;
    const std::size_t begin = data.size();
    data.resize(begin + static_cast<std::size_t>(n));
    float* v = data.data() + begin;
    const auto& name = p.name;
    auto ends = [&](const char* s) {
      return name.size() >= std::strlen(s) &&
             name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0;
    };
    if (ends("weight_v")) {
      const double fan_in = static_cast<double>(n) / p.shape[0];
      std::normal_distribution<float> dist(0.0f, static_cast<float>(1.0 / std::sqrt(fan_in)));
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("weight_g")) {
      // g = |v| of the weight_v written just before... order is g then v in the list, so use
      // the expected norm sqrt(fan_in * 1/fan_in) = 1.
      for (std::int64_t i = 0; i < n; ++i) v[i] = 1.0f;
    } else if (name.find(".lstm.weight") != std::string::npos) {
      const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.shape[1])));
      std::uniform_real_distribution<float> dist(-bound, bound);
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("embed") || ends("embed_avg")) {
      std::normal_distribution<float> dist(0.0f, 0.1f);
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("cluster_size") || ends("inited")) {
      std::fill(v, v + n, 1.0f);
    }  // biases stay 0
    header[name] = {
        {"dtype", "F32"}, {"shape", p.shape}, {"data_offsets", {begin * 4, data.size() * 4}}};
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("earshot_encodec_bench_" + std::to_string(getpid()) + ".safetensors");
  const std::string h = header.dump();
  const std::uint64_t len = h.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * 4));
  return path;
}

struct Setup {
  rt::MemoryBudget budget{512u << 20};
  EncodecModel model;
  std::vector<float> audio;
  std::vector<std::int32_t> codes;  // [kNq, kFrames]
  Setup() {
    const auto config = EncodecConfig::published_24khz();
    const auto path = write_random_checkpoint(config);
    {
      const auto file = models::SafetensorsFile::open(path);
      model = EncodecModel::load(config, file, budget);
    }
    std::filesystem::remove(path);
    std::mt19937 rng(3);
    std::normal_distribution<float> noise(0.0f, 0.02f);
    audio.resize(kSamples);
    for (std::int64_t t = 0; t < kSamples; ++t) {
      audio[t] = 0.3f * std::sin(2.0f * 3.14159265f * 220.0f * t / 24000.0f) + noise(rng);
    }
    codes = model.encode(audio.data(), kSamples, kNq).chunks.at(0).codes;
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void report_memory(benchmark::State& state) {
  state.counters["weights_MB"] =
      static_cast<double>(setup().budget.by_name().at("encodec.weights").active) / (1 << 20);
  state.counters["budget_peak_MB"] = static_cast<double>(setup().budget.peak()) / (1 << 20);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}

void BM_Decode5s(benchmark::State& state) {
  auto& s = setup();
  EncodedAudio encoded;
  encoded.n_q = kNq;
  encoded.audio_length = kSamples;
  encoded.chunks.push_back(CodeChunk{kFrames, s.codes, 1.0f});
  for (auto _ : state) {
    auto out = s.model.decode(encoded);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["rtf"] = benchmark::Counter(
      5.0 * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  report_memory(state);
}
BENCHMARK(BM_Decode5s)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Encode5s(benchmark::State& state) {
  auto& s = setup();
  for (auto _ : state) {
    auto encoded = s.model.encode(s.audio.data(), kSamples, kNq);
    benchmark::DoNotOptimize(encoded.chunks.data());
  }
  state.counters["rtf"] = benchmark::Counter(
      5.0 * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  report_memory(state);
}
BENCHMARK(BM_Encode5s)->Unit(benchmark::kMillisecond)->UseRealTime();

// 5 s streamed one frame per push; counters give the per-frame latency distribution.
void BM_StreamingDecodePerFrame(benchmark::State& state) {
  auto& s = setup();
  StreamingDecoder stream(s.model, s.budget, kNq, 1);
  std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
  std::vector<std::int32_t> frame_major(kFrames * kNq);
  for (std::int64_t f = 0; f < kFrames; ++f) {
    for (int q = 0; q < kNq; ++q) frame_major[f * kNq + q] = s.codes[q * kFrames + f];
  }
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<std::size_t>(kFrames) * 64);
  double total_ms = 0;
  for (auto _ : state) {
    stream.reset();
    for (std::int64_t f = 0; f < kFrames; ++f) {
      const auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(stream.push(frame_major.data() + f * kNq, 1, out.data()));
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      latency_ms.push_back(ms);
      total_ms += ms;
    }
    benchmark::DoNotOptimize(stream.finish(out.data()));
  }
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) {
    return latency_ms[static_cast<std::size_t>(p * (latency_ms.size() - 1))];
  };
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p99_ms"] = pct(0.99);
  state.counters["max_ms"] = latency_ms.back();
  state.counters["rtf"] = total_ms / (state.iterations() * 5000.0);
  state.counters["state_MB"] =
      static_cast<double>(s.budget.by_name().at("encodec.stream").active) / (1 << 20);
  report_memory(state);
}
BENCHMARK(BM_StreamingDecodePerFrame)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
