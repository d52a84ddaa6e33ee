// VAD gating with the real Silero model (both fixture files: the official ONNX and the v6.2
// safetensors export): silence and noise never reach Whisper, so they never produce text, and
// the end of an utterance commits everything pending.
#include "caption_test_support.hpp"
#include "models/vad/silero_weights.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace earshot::nodes::caption {
namespace {

using namespace testing;
namespace ww = models::whisper;

struct VadCase {
  const char* file;
};

class VadGatingTest : public ::testing::TestWithParam<VadCase> {
 protected:
  static void SetUpTestSuite() {
    budget_ = new rt::MemoryBudget(256u << 20);
    model_ =
        ww::WhisperModel::load(earshot::test::fixture("whisper/tiny-random"), *budget_).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete budget_;
  }
  void SetUp() override {
    weights_.emplace(models::vad::load_silero_weights(
        earshot::test::fixture(std::string("silero-vad/") + GetParam().file), *budget_));
  }
  void TearDown() override { weights_.reset(); }

  // Runs the gated node over `audio` in 100 ms pushes.
  Collected run(const std::vector<float>& audio, CaptionStats& stats) {
    rt::MemoryBudget budget(128u << 20);
    CaptionNode node(*model_, fast_options(), &*weights_);
    node.prepare(budget);
    Collected c;
    for (std::size_t i = 0; i < audio.size(); i += 1600) {
      node.push(
          std::span<const float>(audio).subspan(i, std::min<std::size_t>(1600, audio.size() - i)));
      drain(node, c);
    }
    node.finish();
    drain(node, c);
    stats = node.stats();
    return c;
  }

  static rt::MemoryBudget* budget_;
  static ww::WhisperModel* model_;
  std::optional<models::vad::SileroWeights> weights_;
};
rt::MemoryBudget* VadGatingTest::budget_ = nullptr;
ww::WhisperModel* VadGatingTest::model_ = nullptr;

std::vector<float> white_noise(std::size_t n, float amplitude, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-amplitude, amplitude);
  std::vector<float> x(n);
  for (auto& s : x) s = u(rng);
  return x;
}

TEST_P(VadGatingTest, SilenceProducesNoEventsAtAll) {
  CaptionStats stats;
  const Collected c = run(std::vector<float>(12 * 16000, 0.0f), stats);
  EXPECT_TRUE(c.events.empty()) << c.events.size() << " events from silence";
  EXPECT_EQ(stats.passes, 0u) << "Whisper never ran";
  EXPECT_EQ(stats.gated_steps, 12u);
  // Between steps the window holds at most the 0.5 s pre-roll plus one 1 s step.
  EXPECT_LE(stats.max_window_seconds, 1.5 + 1e-9) << "silence is not kept beyond the pre-roll";
}

TEST_P(VadGatingTest, NoiseProducesNoEventsAtAll) {
  for (float amplitude : {0.01f, 0.1f, 0.5f}) {
    CaptionStats stats;
    const Collected c = run(white_noise(10 * 16000, amplitude, 7), stats);
    EXPECT_TRUE(c.events.empty()) << c.events.size() << " events from noise at " << amplitude;
    EXPECT_EQ(stats.passes, 0u) << "amplitude " << amplitude;
  }
  // A 50 Hz hum with a little noise: not speech either.
  auto hum = white_noise(10 * 16000, 0.02f, 3);
  for (std::size_t i = 0; i < hum.size(); ++i)
    hum[i] += 0.3f * static_cast<float>(std::sin(2.0 * M_PI * 50.0 * i / 16000.0));
  CaptionStats stats;
  EXPECT_TRUE(run(hum, stats).events.empty());
}

TEST_P(VadGatingTest, UtteranceBetweenSilencesIsTranscribedAndFlushedAtItsEnd) {
  // 3 s silence, the first utterance of the Silero fixture speech (0 .. 2.05 s, followed by
  // 0.6 s of pause), 3 s silence.
  const auto human = fixture_speech("silero-vad/speech_human_16k.wav");
  std::vector<float> audio(3 * 16000, 0.0f);
  audio.insert(audio.end(), human.begin(), human.begin() + 42000);
  audio.insert(audio.end(), 3 * 16000, 0.0f);
  CaptionStats stats;
  const Collected c = run(audio, stats);
  EXPECT_EQ(stats.utterances, 1u);
  EXPECT_GT(stats.passes, 0u);
  ASSERT_FALSE(c.committed.empty()) << "the utterance's end commits its text";
  for (const auto& e : c.events) {
    if (e.kind != CaptionEventKind::kCommit) continue;
    // Only audio from the pre-roll before the speech to its end (plus padding) is ever heard.
    EXPECT_GE(e.start, 3.0 - 0.5 - 0.1);
    EXPECT_LE(e.end, 3.0 + 42000 / 16000.0 + 0.1);
  }
  // After the flush nothing is pending: the last event is an empty partial, and it precedes
  // the trailing silence (no event comes from it).
  ASSERT_FALSE(c.events.empty());
  EXPECT_EQ(c.events.back().kind, CaptionEventKind::kPartial);
  EXPECT_EQ(c.events.back().n_tokens, 0);
  EXPECT_LE(c.events.back().end, 3.0 + 42000 / 16000.0 + 1.0);
}

INSTANTIATE_TEST_SUITE_P(SileroFiles, VadGatingTest,
                         ::testing::Values(VadCase{"silero_vad.onnx"},
                                           VadCase{"silero_vad_v6.2_16k.safetensors"}),
                         [](const auto& info) {
                           return std::string(info.param.file).find("onnx") != std::string::npos
                                      ? std::string("onnx")
                                      : std::string("safetensors_v62");
                         });

}  // namespace
}  // namespace earshot::nodes::caption
