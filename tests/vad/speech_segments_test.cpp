// Speech segments against the reference helper's output in segments*.json (default and strict
// parameter sets), from probabilities computed by our model for each weights file: every
// boundary within one window (512 samples).
#include "models/vad/speech_segments.hpp"

#include "models/vad/silero_vad.hpp"
#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

namespace earshot::models::vad {
namespace {

using test::vad::vad_fixture;
using test::vad::WeightsCase;

std::vector<float> model_probabilities(const std::string& weights_file,
                                       const std::vector<float>& audio) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture(weights_file), budget);
  SileroVad model(weights, budget);
  std::vector<float> probs;
  for (std::size_t at = 0; at + kWindow <= audio.size(); at += kWindow) {
    probs.push_back(model.process(std::span<const float, kWindow>(audio.data() + at, kWindow)));
  }
  return probs;
}

SpeechParams params_from_json(const nlohmann::json& j) {
  SpeechParams p;
  if (j.contains("threshold")) p.threshold = j["threshold"].get<double>();
  if (j.contains("neg_threshold")) p.neg_threshold = j["neg_threshold"].get<double>();
  if (j.contains("min_speech_duration_ms"))
    p.min_speech_ms = j["min_speech_duration_ms"].get<int>();
  if (j.contains("min_silence_duration_ms"))
    p.min_silence_ms = j["min_silence_duration_ms"].get<int>();
  if (j.contains("speech_pad_ms")) p.speech_pad_ms = j["speech_pad_ms"].get<int>();
  for (const auto& [key, value] : j.items()) {
    const bool known = key == "threshold" || key == "neg_threshold" ||
                       key == "min_speech_duration_ms" || key == "min_silence_duration_ms" ||
                       key == "speech_pad_ms";
    EXPECT_TRUE(known) << "fixture parameter not understood: " << key;
  }
  return p;
}

class SpeechSegmentsReference : public ::testing::TestWithParam<WeightsCase> {};

TEST_P(SpeechSegmentsReference, ReproducesTheReferenceHelper) {
  const auto& param = GetParam();
  const auto ref = SafetensorsFile::open(vad_fixture(param.reference));
  const auto audio = ref.load_f32("speech_human_16k_audio");
  const auto probs = model_probabilities(param.weights, audio);
  std::ifstream in(vad_fixture(param.segments));
  ASSERT_TRUE(in) << param.segments;
  const auto fixture = nlohmann::json::parse(in);
  for (const std::string set : {"default", "strict"}) {
    SCOPED_TRACE(param.weights + " / " + set);
    const auto params = params_from_json(fixture.at(set).at("params"));
    const auto expected = fixture.at(set).at("segments_samples");
    const auto segments = speech_segments(probs, static_cast<std::int64_t>(audio.size()), params);
    ASSERT_EQ(segments.size(), expected.size());
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const auto want_start = expected[i][0].get<std::int64_t>();
      const auto want_end = expected[i][1].get<std::int64_t>();
      EXPECT_LE(std::llabs(segments[i].start - want_start), kWindow) << "segment " << i;
      EXPECT_LE(std::llabs(segments[i].end - want_end), kWindow) << "segment " << i;
      worst = std::max<std::int64_t>({worst, std::llabs(segments[i].start - want_start),
                                      std::llabs(segments[i].end - want_end)});
    }
    std::printf("[%s/%s] %zu segments, worst boundary difference %lld samples\n",
                param.weights.c_str(), set.c_str(), segments.size(), static_cast<long long>(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(AllWeights, SpeechSegmentsReference,
                         ::testing::ValuesIn(test::vad::all_weight_cases()), [](const auto& info) {
                           std::string name = info.param.weights;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

// Hand-made probabilities exercise each rule on its own (window 512, 16 kHz).
std::vector<float> windows(std::initializer_list<std::pair<float, int>> runs) {
  std::vector<float> p;
  for (auto [value, count] : runs) p.insert(p.end(), static_cast<std::size_t>(count), value);
  return p;
}

TEST(SpeechSegments, HysteresisKeepsSpeechThroughMiddleProbabilities) {
  SpeechParams params;
  params.speech_pad_ms = 0;
  // 0.4 is below the threshold but above neg_threshold (0.35): speech continues through it.
  const auto p = windows({{0.0f, 4}, {0.9f, 10}, {0.4f, 20}, {0.9f, 10}, {0.0f, 10}});
  const auto s = speech_segments(p, static_cast<std::int64_t>(p.size()) * 512, params);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].start, 4 * 512);
  EXPECT_EQ(s[0].end, 44 * 512);
}

TEST(SpeechSegments, ShortSilenceDoesNotSplitAndShortSpeechIsDropped) {
  SpeechParams params;
  params.speech_pad_ms = 0;
  // min_silence 100 ms = 1600 samples: 3 silent windows (1536) do not end speech, 4 do.
  const auto p = windows({{0.9f, 10}, {0.1f, 3}, {0.9f, 10}, {0.1f, 5}, {0.9f, 7}, {0.1f, 10}});
  const auto s = speech_segments(p, static_cast<std::int64_t>(p.size()) * 512, params);
  ASSERT_EQ(s.size(), 1u);  // the 7-window (3584 samples < 4000) burst is dropped
  EXPECT_EQ(s[0].start, 0);
  EXPECT_EQ(s[0].end, 23 * 512);
}

TEST(SpeechSegments, PaddingSplitsShortGaps) {
  SpeechParams params;
  params.min_silence_ms = 0;  // lets a gap shorter than two paddings (960 samples) appear
  const auto p = windows({{0.0f, 2}, {0.9f, 10}, {0.1f, 1}, {0.9f, 10}, {0.0f, 10}});
  const auto s = speech_segments(p, static_cast<std::int64_t>(p.size()) * 512, params);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].start, 2 * 512 - 480);
  EXPECT_EQ(s[0].end, 12 * 512 + 256);  // the 512-sample gap is shared
  EXPECT_EQ(s[1].start, 13 * 512 - 256);
  EXPECT_EQ(s[1].end, 23 * 512 + 480);
}

TEST(SpeechSegments, SpeechRunningToTheEndIsClosedAtTheEnd) {
  const auto p = windows({{0.0f, 2}, {0.9f, 20}});
  const std::int64_t total = 22 * 512 - 100;  // last window zero-padded
  const auto s = speech_segments(p, total, SpeechParams{});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].end, total);
  EXPECT_TRUE(speech_segments({}, 0, SpeechParams{}).empty());
}

TEST(SpeechSegments, BadParametersAreRefused) {
  SpeechParams p;
  p.threshold = 1.5;
  EXPECT_THROW(SpeechHysteresis{p}, std::invalid_argument);
  p = {};
  p.threshold = std::nan("");
  EXPECT_THROW(SpeechHysteresis{p}, std::invalid_argument);
  p = {};
  p.min_silence_ms = -1;
  EXPECT_THROW(SpeechHysteresis{p}, std::invalid_argument);
}

}  // namespace
}  // namespace earshot::models::vad
