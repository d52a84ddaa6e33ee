// Encoder output against openai/whisper's, from the fixture's reference mel (README: <= 1e-4).
#include "models/whisper/whisper_encoder.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

void check_encoder(const std::string& name, bool expect_f16, int threads) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir(name), budget);
  EXPECT_EQ(model->weights.any_f16(), expect_f16);
  ThreadTeam team(threads);
  WhisperEncoder encoder(*model, budget, &team);
  const auto ref = refs(name);
  const auto mel = ref.load_f32("mel");
  const auto expected = ref.load_f32("encoder_out");
  const auto& c = model->config;
  std::vector<float> out(static_cast<std::size_t>(c.n_audio_ctx) * c.d_model);
  encoder.forward(mel.data(), c.n_mels, c.n_mel_frames(), out.data());
  const double err = max_abs_diff(out, expected);
  std::printf("[%s, %d thread(s)] encoder_out max |diff| = %.3g (tolerance 1e-4)\n", name.c_str(),
              threads, err);
  EXPECT_LE(err, 1e-4);
}

TEST(WhisperEncoder, TinyRandomMatchesReference) {
  check_encoder("tiny-random", false, 1);
}
TEST(WhisperEncoder, V3RandomF16MatchesReference) {
  check_encoder("v3-random", true, 1);
}
TEST(WhisperEncoder, TinyRandomThreeThreads) {
  check_encoder("tiny-random", false, 3);
}
TEST(WhisperEncoder, V3RandomF16ThreeThreads) {
  check_encoder("v3-random", true, 3);
}

TEST(WhisperEncoder, RejectsWrongMelBins) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("v3-random"), budget);  // 128 bins
  WhisperEncoder encoder(*model, budget);
  std::vector<float> mel(80 * 3000, 0.0f);
  std::vector<float> out(1500 * 32);
  try {
    encoder.forward(mel.data(), 80, 3000, out.data());
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("128-bin"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace earshot::models::whisper
