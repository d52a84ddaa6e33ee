// The Silero VAD model against the reference tensors of the fixture: intermediates of the first
// three windows (1e-5) and every window's probability over the whole file (1e-4), for each
// weights file.
#include "models/vad/silero_vad.hpp"

#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace earshot::models::vad {
namespace {

using test::vad::max_abs_diff;
using test::vad::vad_fixture;
using test::vad::WeightsCase;

class SileroVadReference : public ::testing::TestWithParam<WeightsCase> {};

TEST_P(SileroVadReference, MatchesReferenceIntermediatesAndProbabilities) {
  const auto& param = GetParam();
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture(param.weights), budget);
  SileroVad model(weights, budget);
  const auto ref = SafetensorsFile::open(vad_fixture(param.reference));
  const auto audio = ref.load_f32("speech_human_16k_audio");
  const auto ref_probs = ref.load_f32("speech_human_16k_probs");
  ASSERT_EQ(audio.size(), ref_probs.size() * kWindow);

  std::vector<float> probs;
  for (std::size_t w = 0; w < ref_probs.size(); ++w) {
    probs.push_back(
        model.process(std::span<const float, kWindow>(audio.data() + w * kWindow, kWindow)));
    if (w < 3) {
      const std::string prefix = "speech_human_16k_w" + std::to_string(w) + "_";
      EXPECT_LE(
          max_abs_diff(model.input_with_context(), ref.load_f32(prefix + "input_with_context")),
          0.0f)
          << "window " << w;
      const float stft_err =
          max_abs_diff(model.stft_magnitude(), ref.load_f32(prefix + "stft_mag"));
      const float enc_err =
          max_abs_diff(model.encoder_output(), ref.load_f32(prefix + "encoder_out"));
      const auto state = ref.load_f32(prefix + "state");
      const float h_err = max_abs_diff(model.hidden(), std::span(state).first(kHidden));
      const float c_err = max_abs_diff(model.cell(), std::span(state).subspan(kHidden));
      std::printf("[%s] window %zu: stft %.3g encoder %.3g h %.3g c %.3g prob %.3g\n",
                  param.weights.c_str(), w, stft_err, enc_err, h_err, c_err,
                  std::fabs(probs[w] - ref_probs[w]));
      EXPECT_LT(stft_err, 1e-5f) << "window " << w;
      EXPECT_LT(enc_err, 1e-5f) << "window " << w;
      EXPECT_LT(h_err, 1e-5f) << "window " << w;
      EXPECT_LT(c_err, 1e-5f) << "window " << w;
      EXPECT_LT(std::fabs(probs[w] - ref_probs[w]), 1e-5f) << "window " << w;
    }
  }
  const float prob_err = max_abs_diff(probs, ref_probs);
  std::printf("[%s] max abs prob diff over %zu windows: %.3g\n", param.weights.c_str(),
              probs.size(), prob_err);
  EXPECT_LT(prob_err, 1e-4f);

  // reset() returns to the start of a stream.
  model.reset();
  const float first = model.process(std::span<const float, kWindow>(audio.data(), kWindow));
  EXPECT_EQ(first, probs[0]);
}

INSTANTIATE_TEST_SUITE_P(AllWeights, SileroVadReference,
                         ::testing::ValuesIn(test::vad::all_weight_cases()), [](const auto& info) {
                           std::string name = info.param.weights;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace earshot::models::vad
