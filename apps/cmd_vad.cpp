// `earshot vad`: speech segments of an audio file with Silero VAD (16 kHz), like silero-vad's
// get_speech_timestamps with the same defaults.
#include "apps/command.hpp"
#include "dsp/audio_file.hpp"
#include "models/vad/offline_vad.hpp"
#include "rt/memory_budget.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace earshot::app {
namespace {

struct VadOptions {
  std::string model;
  std::string input;
  std::string format = "text";
  models::vad::SpeechParams params;
};

int run_vad(const VadOptions& options) {
  namespace vad = models::vad;
  options.params.validate();
  // Weights (~1.2 MB) plus one detector's state: a small fixed budget.
  rt::MemoryBudget budget(8u << 20);
  const auto weights = vad::load_silero_weights(options.model, budget);
  vad::SileroVad model(weights, budget);
  const auto audio = dsp::read_audio_mono_16k(options.input);
  const auto segments = vad::detect_speech(model, audio.samples, options.params);

  auto seconds = [](std::int64_t samples) {
    return static_cast<double>(samples) / vad::kSampleRate;
  };
  if (options.format == "json") {
    nlohmann::ordered_json out;
    out["segments"] = nlohmann::ordered_json::array();
    for (const auto& s : segments) {
      out["segments"].push_back({{"start", seconds(s.start)}, {"end", seconds(s.end)}});
    }
    std::printf("%s\n", out.dump(1).c_str());
  } else {
    for (const auto& s : segments) std::printf("%.3f\t%.3f\n", seconds(s.start), seconds(s.end));
  }
  if (audio.non_finite_replaced != 0) {
    std::fprintf(stderr, "earshot vad: warning: %zu NaN/Inf samples in %s were read as 0\n",
                 audio.non_finite_replaced, options.input.c_str());
  }
  return 0;
}

const RegisterCommand kRegisterVad{Command{
    "vad",
    "Print the speech segments of an audio file (Silero VAD, 16 kHz; any input format/rate is "
    "converted to 16 kHz mono)",
    [](CLI::App& sub) -> RunFn {
      auto options = std::make_shared<VadOptions>();
      sub.add_option("--vad-model", options->model,
                     "Silero VAD weights: the official silero_vad.onnx or a .safetensors export")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("file", options->input, "audio file (anything libsndfile reads)")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--format", options->format, "output: text (start<TAB>end seconds) or json")
          ->check(CLI::IsMember({"text", "json"}))
          ->capture_default_str();
      sub.add_option("--threshold", options->params.threshold,
                     "speech probability threshold; speech ends below threshold - 0.15")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str();
      sub.add_option("--min-speech-ms", options->params.min_speech_ms,
                     "drop speech segments not longer than this")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      sub.add_option("--min-silence-ms", options->params.min_silence_ms,
                     "silence needed to end a segment")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      sub.add_option("--pad-ms", options->params.speech_pad_ms,
                     "padding added to each side of a segment")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      return [options] { return run_vad(*options); };
    }}};

}  // namespace
}  // namespace earshot::app
