// Silero VAD speed: one 512-sample window (32 ms of 16 kHz audio) through the model, and the
// streaming detector fed 10 ms blocks. Uses the real v6.2 weights from the fixtures
// ($EARSHOT_FIXTURES or ../shared/fixtures) on the fixture's speech recording.
#include "models/core/safetensors.hpp"
#include "models/vad/silero_vad.hpp"
#include "models/vad/streaming_vad.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

namespace {

namespace vad = earshot::models::vad;

std::filesystem::path fixture(const std::string& name) {
  const char* env = std::getenv("EARSHOT_FIXTURES");
  const std::filesystem::path root =
      env != nullptr && *env != '\0'
          ? std::filesystem::path(env)
          // bench/ is in the checkout; the fixtures sit beside the checkout.
          : std::filesystem::path(EARSHOT_FIXTURES_DIR);
  return root / "silero-vad" / name;
}

struct Setup {
  earshot::rt::MemoryBudget budget{16u << 20};
  vad::SileroWeights weights;
  std::vector<float> audio;
  Setup() {
    weights = vad::load_silero_weights(fixture("silero_vad.onnx"), budget);
    audio = earshot::models::SafetensorsFile::open(fixture("ref_v6.2.safetensors"))
                .load_f32("speech_human_16k_audio");
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_SileroWindow(benchmark::State& state) {
  auto& s = setup();
  vad::SileroVad model(s.weights, s.budget);
  const std::size_t windows = s.audio.size() / vad::kWindow;
  std::size_t w = 0;
  for (auto _ : state) {
    const float p = model.process(
        std::span<const float, vad::kWindow>(s.audio.data() + w * vad::kWindow, vad::kWindow));
    benchmark::DoNotOptimize(p);
    if (++w == windows) w = 0;
  }
  state.counters["windows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  // 32 ms of audio per window: the real-time factor is (time per window) / 32 ms.
  state.counters["audio_s/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * vad::kWindow / vad::kSampleRate,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SileroWindow)->Unit(benchmark::kMicrosecond);

void BM_StreamingVad10msBlocks(benchmark::State& state) {
  auto& s = setup();
  vad::StreamingVad stream(s.weights, s.budget);
  vad::VadListener sink;
  constexpr std::size_t kBlock = 160;
  std::size_t at = 0;
  for (auto _ : state) {
    if (at + kBlock > s.audio.size()) at = 0;
    stream.push(std::span(s.audio).subspan(at, kBlock), sink);
    at += kBlock;
  }
  state.counters["audio_s/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBlock / vad::kSampleRate,
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamingVad10msBlocks)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
