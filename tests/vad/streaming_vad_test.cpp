// The streaming detector: blocks of random sizes give bit-identical probabilities to the
// offline run, its start/end events equal the offline speech segments (default and strict
// parameters), and push() allocates nothing.
#include "models/vad/streaming_vad.hpp"

#include "models/vad/offline_vad.hpp"
#include "tests/vad/allocation_counter.hpp"
#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>

#include <random>

namespace earshot::models::vad {
namespace {

using test::vad::vad_fixture;

// Records everything into storage reserved up front (so recording never allocates).
class Recorder : public VadListener {
 public:
  Recorder() {
    probs.reserve(4096);
    starts.reserve(4096);
    events.reserve(256);
  }
  void on_probability(std::int64_t window_start, float probability) override {
    starts.push_back(window_start);
    probs.push_back(probability);
  }
  void on_event(const VadEvent& event) override { events.push_back(event); }

  std::vector<float> probs;
  std::vector<std::int64_t> starts;
  std::vector<VadEvent> events;
};

std::vector<SpeechSegment> segments_from_events(const std::vector<VadEvent>& events) {
  std::vector<SpeechSegment> out;
  bool open = false;
  for (const auto& e : events) {
    if (e.kind == VadEvent::Kind::SpeechStart) {
      EXPECT_FALSE(open) << "two starts in a row";
      out.push_back({e.sample, -1});
      open = true;
    } else {
      EXPECT_TRUE(open) << "end without start";
      if (!out.empty()) out.back().end = e.sample;
      open = false;
    }
    EXPECT_LE(e.sample, e.decided_at);  // events are about the past
  }
  EXPECT_FALSE(open) << "speech left open after finish()";
  return out;
}

struct StreamCase {
  const char* name;
  SpeechParams params;
  std::size_t audio_samples;  // 0: the whole file
};

class StreamingVadVsOffline : public ::testing::TestWithParam<StreamCase> {};

TEST_P(StreamingVadVsOffline, RandomBlocksMatchTheOfflineRun) {
  const auto& c = GetParam();
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad.onnx"), budget);
  const auto ref = SafetensorsFile::open(vad_fixture("ref_v6.2.safetensors"));
  auto audio = ref.load_f32("speech_human_16k_audio");
  if (c.audio_samples != 0) audio.resize(c.audio_samples);

  SileroVad offline_model(weights, budget);
  const auto offline_probs = speech_probabilities(offline_model, audio);
  const auto offline_segments =
      speech_segments(offline_probs, static_cast<std::int64_t>(audio.size()), c.params);
  ASSERT_GT(offline_segments.size(), 5u);

  StreamingVad stream(weights, budget, c.params);
  std::mt19937 rng(7);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass checks reset()
    Recorder rec;
    std::size_t at = 0;
    while (at < audio.size()) {
      // Mostly small blocks (audio callbacks), sometimes large ones, sometimes empty.
      std::size_t n = std::uniform_int_distribution<std::size_t>(0, 700)(rng);
      if (rng() % 10 == 0) n = std::uniform_int_distribution<std::size_t>(0, 5000)(rng);
      n = std::min(n, audio.size() - at);
      stream.push(std::span(audio).subspan(at, n), rec);
      at += n;
    }
    stream.finish(rec);
    ASSERT_EQ(rec.probs.size(), offline_probs.size());
    for (std::size_t i = 0; i < rec.probs.size(); ++i) {
      ASSERT_EQ(rec.probs[i], offline_probs[i]) << "window " << i;
      ASSERT_EQ(rec.starts[i], static_cast<std::int64_t>(i) * kWindow);
    }
    const auto streamed = segments_from_events(rec.events);
    ASSERT_EQ(streamed.size(), offline_segments.size());
    for (std::size_t i = 0; i < streamed.size(); ++i) {
      EXPECT_EQ(streamed[i].start, offline_segments[i].start) << "segment " << i;
      EXPECT_EQ(streamed[i].end, offline_segments[i].end) << "segment " << i;
    }
    EXPECT_EQ(stream.samples_pushed(), static_cast<std::int64_t>(audio.size()));
    stream.reset();
  }
}

SpeechParams strict_params() {
  SpeechParams p;
  p.threshold = 0.6;
  p.min_speech_ms = 500;
  p.min_silence_ms = 300;
  p.speech_pad_ms = 100;
  return p;
}

INSTANTIATE_TEST_SUITE_P(Params, StreamingVadVsOffline,
                         ::testing::Values(StreamCase{"default_whole_file", SpeechParams{}, 0},
                                           StreamCase{"strict_whole_file", strict_params(), 0},
                                           // Ends inside a window and inside speech.
                                           StreamCase{"default_cut_mid_speech", SpeechParams{},
                                                      500000 + 123}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(StreamingVad, PushAllocatesNothing) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad.onnx"), budget);
  const auto ref = SafetensorsFile::open(vad_fixture("ref_v6.2.safetensors"));
  const auto audio = ref.load_f32("speech_human_16k_audio");
  StreamingVad stream(weights, budget);
  Recorder rec;
  test::vad::AllocationGuard guard;
  // The first 20 s hold several segments: enough to cross every path of push().
  for (std::size_t at = 0; at + 480 <= 20 * 16000; at += 480) {
    stream.push(std::span(audio).subspan(at, 480), rec);
  }
  stream.finish(rec);
  EXPECT_EQ(guard.count(), 0u);
  EXPECT_GT(rec.events.size(), 4u);
}

TEST(StreamingVad, StartIsReportedOnlyOnceSpeechOutlastsMinSpeech) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad.onnx"), budget);
  const auto ref = SafetensorsFile::open(vad_fixture("ref_v6.2.safetensors"));
  const auto audio = ref.load_f32("speech_human_16k_audio");
  StreamingVad stream(weights, budget);
  Recorder rec;
  stream.push(std::span(audio).first(5 * 16000), rec);  // the first segment starts at 0.03 s
  ASSERT_FALSE(rec.events.empty());
  const auto& first = rec.events.front();
  EXPECT_EQ(first.kind, VadEvent::Kind::SpeechStart);
  // Decided more than min_speech (4000 samples) after the unpadded start.
  EXPECT_GT(first.decided_at - (first.sample + 480), 4000);
  EXPECT_LT(first.decided_at - (first.sample + 480), 4000 + 3 * kWindow);
}

TEST(StreamingVad, RefusesParametersTheModelCannotUse) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad.onnx"), budget);
  SpeechParams p;
  p.window = 256;
  EXPECT_THROW(StreamingVad(weights, budget, p), std::invalid_argument);
  p = {};
  p.threshold = -0.5;
  EXPECT_THROW(StreamingVad(weights, budget, p), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::models::vad
