// The caption node on a reduced audio context: how the context is sized, that a single pass is
// exactly "log-mel of the padded window, encoder on its first 2 * ctx frames, decoder over ctx
// positions" (and the full context exactly the 30 s pipeline), that no timestamp past the
// context ever comes out, and the node end to end with `--audio-ctx`.
#include "caption_test_support.hpp"
#include "dsp/log_mel.hpp"
#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "nodes/caption/ngram_loop.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace earshot::nodes::caption {
namespace {

using namespace testing;
namespace ww = models::whisper;

class CaptionReducedContext : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    budget_ = new rt::MemoryBudget(512u << 20);
    tiny_ =
        ww::WhisperModel::load(earshot::test::fixture("whisper/tiny-random"), *budget_).release();
    v3_ = ww::WhisperModel::load(earshot::test::fixture("whisper/v3-random"), *budget_).release();
    speech_ = new std::vector<float>(fixture_speech());
  }
  static void TearDownTestSuite() {
    delete speech_;
    delete v3_;
    delete tiny_;
    delete budget_;
  }
  static rt::MemoryBudget* budget_;
  static ww::WhisperModel* tiny_;
  static ww::WhisperModel* v3_;
  static std::vector<float>* speech_;
};
rt::MemoryBudget* CaptionReducedContext::budget_ = nullptr;
ww::WhisperModel* CaptionReducedContext::tiny_ = nullptr;
ww::WhisperModel* CaptionReducedContext::v3_ = nullptr;
std::vector<float>* CaptionReducedContext::speech_ = nullptr;

TEST_F(CaptionReducedContext, ContextCoversTheWindowPlusAMarginInWholeGranules) {
  rt::MemoryBudget budget(128u << 20);
  CaptionOptions o = fast_options();
  CaptionNode node(*tiny_, o);
  node.prepare(budget);
  // ceil((seconds + 1 s margin) / 20 ms), rounded up to 64 positions, at most 1500.
  EXPECT_EQ(node.audio_ctx_for(0.3), 128);    // 65 positions
  EXPECT_EQ(node.audio_ctx_for(0.28), 64);    // 64 positions exactly
  EXPECT_EQ(node.audio_ctx_for(5.0), 320);    // 300
  EXPECT_EQ(node.audio_ctx_for(6.78), 448);   // 389
  EXPECT_EQ(node.audio_ctx_for(28.5), 1500);  // 1475 -> 1536, capped
  for (double s = 0.3; s < 29.0; s += 0.37) {
    const int ctx = node.audio_ctx_for(s);
    EXPECT_GE(ctx * 0.02, s + 1.0 - 1e-9) << s << " s: the window and the margin fit";
    EXPECT_TRUE(ctx % kAudioCtxGranule == 0 || ctx == 1500) << s;
  }

  o.audio_ctx = CaptionOptions::kAudioCtxFull;
  CaptionNode full(*tiny_, o);
  full.prepare(budget);
  EXPECT_EQ(full.audio_ctx_for(0.3), 1500);
  o.audio_ctx = 700;  // a minimum: short windows get 700, longer ones what auto gives
  CaptionNode fixed(*tiny_, o);
  fixed.prepare(budget);
  EXPECT_EQ(fixed.audio_ctx_for(0.3), 700);
  EXPECT_EQ(fixed.audio_ctx_for(20.0), 1088);  // 1050

  o.audio_ctx = 1501;
  CaptionNode too_big(*tiny_, o);
  EXPECT_THROW(too_big.prepare(budget), std::invalid_argument);
  o.audio_ctx = -2;
  EXPECT_THROW(CaptionNode(*tiny_, o), std::invalid_argument);
  EXPECT_EQ(parse_audio_ctx("auto"), CaptionOptions::kAudioCtxAuto);
  EXPECT_EQ(parse_audio_ctx("full"), CaptionOptions::kAudioCtxFull);
  EXPECT_EQ(parse_audio_ctx("384"), 384);
  for (const char* bad : {"", "0", "-5", "12x", "fast"})
    EXPECT_THROW(parse_audio_ctx(bad), std::invalid_argument) << bad;
}

// One pass by hand, the way openai's pipeline does it on the padded 30 s window, then cut to
// the context: the node's single pass (finish() without a step) must commit exactly its text.
std::vector<int> reference_pass(const ww::WhisperModel& model, std::span<const float> audio,
                                int ctx, int sample_len) {
  const auto& c = model.config;
  rt::MemoryBudget budget(256u << 20);
  dsp::WhisperLogMel log_mel(static_cast<std::size_t>(c.n_mels));
  std::vector<float> mel(static_cast<std::size_t>(c.n_mels) * 3000);
  log_mel.compute(audio, mel);  // pad_or_trim to 30 s, normalised over all 3000 frames
  const int frames = 2 * ctx;
  std::vector<float> cut(static_cast<std::size_t>(c.n_mels) * frames);
  for (int m = 0; m < c.n_mels; ++m)
    std::copy_n(mel.begin() + static_cast<std::ptrdiff_t>(m) * 3000, frames,
                cut.begin() + static_cast<std::ptrdiff_t>(m) * frames);
  ww::WhisperEncoder encoder(model, budget);
  std::vector<float> features(static_cast<std::size_t>(ctx) * c.d_model);
  encoder.forward(cut.data(), c.n_mels, frames, features.data());
  ww::WhisperDecoding decoding(model, budget, 1);
  decoding.set_audio(features.data(), ctx);
  ww::DecodingOptions o;
  o.language = "en";
  o.sample_len = sample_len;
  o.suppress_tokens = c.suppress_tokens;
  for (int i = ctx + 1; i <= c.n_audio_ctx; ++i)
    o.suppress_tokens.push_back(model.tokens.timestamp_begin + i);
  const auto result = decoding.decode(o);
  std::vector<int> text;
  for (int t : result.tokens)
    if (t < model.tokens.eot) text.push_back(t);
  text.resize(loop_free_length(text));
  return text;
}

TEST_F(CaptionReducedContext, OnePassEqualsTheReferencePipelineCutToTheContext) {
  const auto audio = std::span<const float>(*speech_).first(3 * 16000);
  for (int audio_ctx : {CaptionOptions::kAudioCtxAuto, CaptionOptions::kAudioCtxFull}) {
    rt::MemoryBudget budget(128u << 20);
    CaptionOptions o = fast_options();
    o.audio_ctx = audio_ctx;
    o.step_ms = 5000;  // no step in 3 s: finish() runs the only pass and commits it all
    o.no_speech_threshold.reset();  // random weights: never judge the pass silent
    CaptionNode node(*tiny_, o);
    node.prepare(budget);
    node.push(audio);
    node.finish();
    Collected c;
    drain(node, c);
    ASSERT_EQ(node.stats().passes, 1u);
    const int ctx = node.last_audio_ctx();
    EXPECT_EQ(ctx, audio_ctx == CaptionOptions::kAudioCtxFull ? 1500 : 256);
    const std::vector<int> expected = reference_pass(*tiny_, audio, ctx, o.max_tokens);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(c.committed, expected) << "audio ctx " << ctx;
  }
}

TEST_F(CaptionReducedContext, NoTimestampPastTheContextEvenWhereTheFullContextEmitsOne) {
  // v3-random likes late timestamps (its fixture decode emits <|24.82|> for 6.8 s of audio).
  const auto& ids = v3_->tokens;
  for (int audio_ctx : {CaptionOptions::kAudioCtxFull, CaptionOptions::kAudioCtxAuto}) {
    rt::MemoryBudget budget(256u << 20);
    CaptionOptions o = fast_options();
    o.max_tokens = 24;
    o.audio_ctx = audio_ctx;
    o.no_speech_threshold.reset();
    CaptionNode node(*v3_, o);
    node.prepare(budget);
    int latest = -1, latest_past_ctx = -1, passes = 0;
    for (std::size_t at = 0; at + 16000 <= speech_->size(); at += 16000) {
      node.push(std::span<const float>(*speech_).subspan(at, 16000));
      Collected c;
      drain(node, c);
      ++passes;
      for (int t : node.last_decoding().tokens) {
        if (t < ids.timestamp_begin) continue;
        const int index = t - ids.timestamp_begin;
        latest = std::max(latest, index);
        if (index > node.last_audio_ctx()) latest_past_ctx = index;
      }
      // Text is placed in time inside the audio heard so far, whatever the timestamps say.
      for (const CaptionEvent& e : c.events) EXPECT_LE(e.end, (at + 16000) / 16000.0 + 1e-9);
    }
    std::printf("[ measure  ] v3-random %s context: latest timestamp %.2f s over %d passes\n",
                audio_ctx == CaptionOptions::kAudioCtxFull ? "full" : "auto", latest * 0.02,
                passes);
    EXPECT_EQ(latest_past_ctx, -1) << "a timestamp past the decoder's context";
    if (audio_ctx == CaptionOptions::kAudioCtxAuto) {
      EXPECT_LT(node.last_audio_ctx(), 1500);
    }
  }
}

TEST_F(CaptionReducedContext, EndToEndEventsAreWellFormedWithTheReducedContext) {
  rt::MemoryBudget budget(128u << 20);
  CaptionOptions o = fast_options();
  o.audio_ctx = CaptionOptions::kAudioCtxAuto;
  CaptionNode node(*tiny_, o);
  node.prepare(budget);
  Collected c;
  std::vector<int> contexts;
  for (std::size_t at = 0; at < speech_->size(); at += 8000) {
    node.push(std::span<const float>(*speech_).subspan(
        at, std::min<std::size_t>(8000, speech_->size() - at)));
    drain(node, c);
    if (contexts.empty() || contexts.back() != node.last_audio_ctx())
      contexts.push_back(node.last_audio_ctx());
  }
  node.finish();
  drain(node, c);
  const double duration = speech_->size() / 16000.0;
  double last_end = 0.0;
  std::size_t commits = 0;
  for (const auto& e : c.events) {
    EXPECT_LE(e.start, e.end);
    EXPECT_GE(e.start, 0.0);
    EXPECT_LE(e.end, duration + 1e-9);
    if (e.kind == CaptionEventKind::kCommit) {
      ++commits;
      EXPECT_GE(e.start, last_end - 1e-9);
      last_end = e.end;
    }
  }
  EXPECT_GT(commits, 0u);
  EXPECT_FALSE(c.committed.empty());
  // The context followed the window: more than one size, each below the full 1500.
  ASSERT_GE(contexts.size(), 2u);
  for (int ctx : contexts) EXPECT_TRUE(ctx == 0 || (ctx < 1500 && ctx % 64 == 0)) << ctx;
  EXPECT_GT(node.stats().audio_ctx_sum, 0u);
  EXPECT_LT(node.stats().audio_ctx_sum, node.stats().passes * 1500u);
}

}  // namespace
}  // namespace earshot::nodes::caption
