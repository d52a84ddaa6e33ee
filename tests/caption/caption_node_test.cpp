// The caption node over the fixture speech with the tiny-random Whisper (gibberish, but
// deterministic): commits do not depend on how the audio was cut into callbacks, the capture
// path allocates nothing on the audio thread. Also: bounded window, well-formed events, hostile
// audio. (The worker's steady-state passes: caption_allocation_test.cpp.)
#include "caption_test_support.hpp"
#include "nodes/caption/caption_capture.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/virtual_clock_backend.hpp"
#include "rt/worker_thread.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace earshot::nodes::caption {
namespace {

using namespace testing;
namespace ww = models::whisper;

class CaptionNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    budget_ = new rt::MemoryBudget(256u << 20);
    model_ =
        ww::WhisperModel::load(earshot::test::fixture("whisper/tiny-random"), *budget_).release();
    speech_ = new std::vector<float>(fixture_speech());
  }
  static void TearDownTestSuite() {
    delete speech_;
    delete model_;
    delete budget_;
  }
  static rt::MemoryBudget* budget_;
  static ww::WhisperModel* model_;
  static std::vector<float>* speech_;
};
rt::MemoryBudget* CaptionNodeTest::budget_ = nullptr;
ww::WhisperModel* CaptionNodeTest::model_ = nullptr;
std::vector<float>* CaptionNodeTest::speech_ = nullptr;

// Feeds `audio` through the real-time path: a virtual-clock backend whose period is re-drawn
// at random before every callback, the capture processor on the (guarded) audio thread, the
// worker thread running the node. Returns the events; `audio_thread_violations` gets what the
// guard saw on the audio thread.
Collected run_through_backend(CaptionNode& node, const std::vector<float>& audio, unsigned seed,
                              std::uint64_t& audio_thread_violations) {
  CaptionCapture capture(1, 1u << 18, 4096);
  CaptionFeeder feeder(capture, node, 16000.0);
  rt::WorkerThread worker("caption-test", [&feeder] { feeder.run(); });
  capture.set_worker(&worker);
  rt::VirtualClockBackend backend(rt::VirtualClockBackend::Clock::Manual);
  std::size_t position = 0;
  backend.set_input([&](float* const* in, std::uint32_t, std::uint32_t frames, std::uint64_t) {
    for (std::uint32_t i = 0; i < frames; ++i)
      in[0][i] = position + i < audio.size() ? audio[position + i] : 0.0f;
    position += frames;
  });
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::uint32_t> period(1, 3000);
  Collected c;
  rt::guard::reset();
  while (position < audio.size()) {
    rt::StreamConfig sc;
    sc.sample_rate = 16000;
    sc.input_channels = 1;
    sc.output_channels = 0;
    sc.period_frames = std::min<std::uint32_t>(period(rng), audio.size() - position);
    backend.open(sc);  // a new block size: allocation here is outside the callback
    backend.start(capture);
    backend.run_periods(1);
    backend.stop();
    drain(node, c);
  }
  audio_thread_violations = rt::guard::violations();
  capture.wait_until_caught_up();
  worker.stop();
  worker.rethrow_if_failed();
  feeder.finish();
  drain(node, c);
  return c;
}

TEST_F(CaptionNodeTest, CommitsAreDeterministicWhateverTheBlockSizesAndTheAudioThreadIsClean) {
  ASSERT_TRUE(rt::guard::installed());
  std::vector<int> reference;
  {
    // Reference: the whole file pushed at once, no backend.
    rt::MemoryBudget budget(128u << 20);
    CaptionNode node(*model_, fast_options());
    node.prepare(budget);
    node.push(*speech_);
    node.finish();
    Collected c;
    drain(node, c);
    reference = c.committed;
    EXPECT_EQ(node.stats().dropped_events, 0u);
  }
  ASSERT_FALSE(reference.empty()) << "the fixture speech commits some (gibberish) text";
  for (unsigned seed : {1u}) {
    rt::MemoryBudget budget(128u << 20);
    CaptionNode node(*model_, fast_options());
    node.prepare(budget);
    std::uint64_t violations = 0;
    const Collected c = run_through_backend(node, *speech_, seed, violations);
    EXPECT_EQ(violations, 0u) << "audio thread: " << rt::guard::first_violation_or_none();
    EXPECT_EQ(c.committed, reference) << "block-size seed " << seed;
    EXPECT_EQ(node.samples_pushed(), static_cast<std::int64_t>(speech_->size()));
  }
}

TEST_F(CaptionNodeTest, EventsAreWellFormedAndCommitsMonotonic) {
  rt::MemoryBudget budget(128u << 20);
  CaptionOptions o = fast_options();
  o.step_ms = 1000;
  CaptionNode node(*model_, o);
  node.prepare(budget);
  node.push(*speech_);
  node.finish();
  Collected c;
  drain(node, c);
  const double duration = speech_->size() / 16000.0;
  double last_end = 0.0;
  std::uint32_t last_step = 0;
  std::size_t commits = 0;
  for (const auto& e : c.events) {
    EXPECT_GE(e.step, last_step);
    last_step = e.step;
    EXPECT_GE(e.n_tokens, 0);
    EXPECT_LE(e.n_tokens, kMaxEventTokens);
    EXPECT_LE(e.start, e.end);
    EXPECT_GE(e.start, 0.0);
    EXPECT_LE(e.end, duration + 1e-9);
    for (int i = 0; i < e.n_tokens; ++i) EXPECT_LT(e.tokens[i], model_->tokens.eot);
    if (e.kind == CaptionEventKind::kCommit) {
      ++commits;
      EXPECT_GT(e.n_tokens, 0);
      EXPECT_GE(e.start, last_end - 1e-9) << "commits never go back in time";
      last_end = e.end;
      EXPECT_GE(e.latency, 0.0);
    }
  }
  EXPECT_GT(commits, 0u);
  // finish() leaves nothing pending: the last event is an empty partial.
  ASSERT_FALSE(c.events.empty());
  EXPECT_EQ(c.events.back().kind, CaptionEventKind::kPartial);
  EXPECT_EQ(c.events.back().n_tokens, 0);
  EXPECT_EQ(node.stats().passes, static_cast<std::uint64_t>(speech_->size() / 16000) + 1);
}

TEST_F(CaptionNodeTest, WindowStaysUnder30SecondsOnLongInput) {
  // 40 s of the fixture speech back to back: the window is trimmed and never fills.
  std::vector<float> audio;
  while (audio.size() < 40u * 16000) audio.insert(audio.end(), speech_->begin(), speech_->end());
  rt::MemoryBudget budget(128u << 20);
  CaptionOptions o = fast_options();
  o.step_ms = 4000;  // few passes: fast under ASan
  o.max_tokens = 8;
  CaptionNode node(*model_, o);
  node.prepare(budget);
  Collected c;
  for (std::size_t i = 0; i < audio.size(); i += 16000) {
    node.push(
        std::span<const float>(audio).subspan(i, std::min<std::size_t>(16000, audio.size() - i)));
    drain(node, c);
  }
  node.finish();
  drain(node, c);
  EXPECT_LT(node.stats().max_window_seconds, 30.0);
  EXPECT_GT(node.stats().trims + node.stats().forced_trims, 0u);
  EXPECT_LT(node.window_seconds(), 30.0);
}

TEST_F(CaptionNodeTest, HostileAudioIsReadAsSilenceAndOptionsAreChecked) {
  rt::MemoryBudget budget(128u << 20);
  CaptionOptions o = fast_options();
  o.max_tokens = 4;
  CaptionNode node(*model_, o);
  node.prepare(budget);
  std::vector<float> bad(20000, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t i = 0; i < bad.size(); i += 3) bad[i] = std::numeric_limits<float>::infinity();
  EXPECT_NO_THROW(node.push(bad));
  EXPECT_NO_THROW(node.finish());

  CaptionOptions wrong = fast_options();
  wrong.step_ms = 0;
  EXPECT_THROW(CaptionNode(*model_, wrong), std::invalid_argument);
  wrong = fast_options();
  wrong.max_buffer_seconds = 40;
  EXPECT_THROW(CaptionNode(*model_, wrong), std::invalid_argument);
  wrong = fast_options();
  wrong.language = "xx-unknown";
  CaptionNode unknown(*model_, wrong);
  EXPECT_ANY_THROW(unknown.prepare(budget));
  CaptionNode unprepared(*model_, fast_options());
  EXPECT_THROW(unprepared.push(bad), std::logic_error);
}

TEST_F(CaptionNodeTest, TooSmallBudgetIsRefusedByName) {
  rt::MemoryBudget budget(1u << 20);
  CaptionNode node(*model_, fast_options());
  try {
    node.prepare(budget);
    FAIL() << "a 1 MiB budget cannot hold the 30 s window";
  } catch (const rt::BudgetExceeded& e) {
    EXPECT_NE(std::string(e.what()).find("caption"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace earshot::nodes::caption
