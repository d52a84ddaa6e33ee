// The caption worker's steady state: once warm, a step (VAD, log-mel of the audio context,
// encoder, greedy decode with timestamps, repetition cut, local agreement, trimming, events)
// makes no heap call of the node's own. Counted with the audio-thread guard (earshot_rt_guard):
// the test thread marks itself while it pushes, so every malloc/new/free on it is recorded
// (through the sanitizer's hooks under ASan). Single-threaded on purpose: a thread team's
// workers are not marked, and the point is to see every call of a pass.
//
// Every mode, the full 30 s context included, makes zero heap calls outright. Every measured
// pass is also replayed outside the node with the same shapes, features and decoding options:
// the replay must decode the same tokens, and its count (the Whisper kernels' own) must equal
// the node's, so a regression shows whether the node or the kernels allocated. (The fixture's
// model is narrow; at the real widths the Whisper kernels' own zero is tested in
// tests/whisper/whisper_encoder_alloc_test.cpp, including set_audio through shared workspaces.)
#include "caption_test_support.hpp"
#include "models/vad/silero_weights.hpp"
#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "rt/audio_thread_guard.hpp"

#include <gtest/gtest.h>

namespace earshot::nodes::caption {
namespace {

using namespace testing;
namespace ww = models::whisper;

// Heap calls made on the calling thread while `f` runs.
template <typename F>
std::uint64_t heap_calls(F&& f) {
  rt::guard::reset();
  {
    rt::AudioThreadScope mark;
    f();
  }
  return rt::guard::violations();
}

struct Case {
  const char* name;
  int audio_ctx;
  bool vad;
};

class CaptionAllocation : public ::testing::TestWithParam<Case> {};

TEST_P(CaptionAllocation, SteadyStatePassesMakeNoHeapCalls) {
  ASSERT_TRUE(rt::guard::installed());
  rt::MemoryBudget budget(256u << 20);
  const auto model = ww::WhisperModel::load(earshot::test::fixture("whisper/tiny-random"), budget);
  std::optional<models::vad::SileroWeights> vad;
  if (GetParam().vad)
    vad.emplace(models::vad::load_silero_weights(
        earshot::test::fixture("silero-vad/silero_vad.onnx"), budget));
  const std::vector<float> speech = fixture_speech();
  CaptionOptions o = fast_options();
  o.audio_ctx = GetParam().audio_ctx;
  o.trim_seconds = 3.0;  // trims within the measured steps too
  CaptionNode node(*model, o, vad ? &*vad : nullptr);
  node.prepare(budget);

  // The fixture speech over and over, in 1 s steps, as a live stream.
  std::size_t position = 0;
  auto push_step = [&] {
    for (std::size_t left = 16000; left > 0;) {
      const std::size_t n = std::min(left, speech.size() - position);
      node.push(std::span<const float>(speech).subspan(position, n));
      position = (position + n) % speech.size();
      left -= n;
    }
  };
  // The replay: the same Whisper calls as the node's last pass, outside it.
  ww::WhisperEncoder encoder(*model, budget);
  ww::WhisperDecoding decoding(*model, budget, 1);
  decoding.set_gemm_workspaces(encoder.gemm_workspaces());
  const int n_mels = model->config.n_mels;
  std::vector<float> mel(static_cast<std::size_t>(n_mels) * 3000, 0.0f);
  std::vector<float> features(static_cast<std::size_t>(1500) * model->config.d_model);
  ww::DecodingResult replayed;
  replayed.tokens.reserve(512);
  auto replay = [&] {
    const int ctx = node.last_audio_ctx();
    const ww::DecodingOptions options = node.last_decoding_options();  // copied unmarked
    const std::vector<float> heard(node.last_features().begin(), node.last_features().end());
    decoding.set_audio(heard.data(), ctx);
    decoding.decode_into(options, replayed);  // warm the replay's own buffers
    const std::uint64_t calls = heap_calls([&] {
      encoder.forward(mel.data(), n_mels, 2 * ctx, features.data());  // shape-only work
      decoding.set_audio(heard.data(), ctx);
      decoding.decode_into(options, replayed);
    });
    EXPECT_EQ(replayed.tokens, node.last_decoding().tokens) << "the replay decodes the same";
    return calls;
  };

  Collected c;
  for (int i = 0; i < 3; ++i) {  // warm-up: first passes, commits and trims
    push_step();
    drain(node, c);
  }
  std::uint64_t node_calls = 0, kernel_calls = 0, passes = 0;
  const char* first = "none";
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t before = node.stats().passes;
    const std::uint64_t n = heap_calls(push_step);
    if (n > 0 && node_calls == 0) first = rt::guard::first_violation_or_none();
    drain(node, c);
    const std::uint64_t ran = node.stats().passes - before;
    ASSERT_LE(ran, 1u) << "one pass per 1 s step at most";
    if (ran == 0) {
      EXPECT_EQ(n, 0u) << "a step without a pass (VAD-gated or too short)";
      continue;
    }
    ++passes;
    node_calls += n;
    kernel_calls += replay();
  }
  std::printf(
      "[ measure  ] %s: %llu heap calls in %llu steady-state passes (audio ctx %d); the same "
      "Whisper kernel calls outside the node: %llu; first: %s\n",
      GetParam().name, static_cast<unsigned long long>(node_calls),
      static_cast<unsigned long long>(passes), node.last_audio_ctx(),
      static_cast<unsigned long long>(kernel_calls), first);
  EXPECT_GE(passes, 4u) << "the measured steps ran Whisper";
  EXPECT_EQ(node_calls, kernel_calls) << "the caption node made heap calls of its own";
  EXPECT_EQ(node_calls, 0u) << "first: " << first;
  EXPECT_FALSE(c.committed.empty());
}

INSTANTIATE_TEST_SUITE_P(Modes, CaptionAllocation,
                         ::testing::Values(Case{"auto", CaptionOptions::kAudioCtxAuto, false},
                                           Case{"full", CaptionOptions::kAudioCtxFull, false},
                                           Case{"auto_vad", CaptionOptions::kAudioCtxAuto, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace earshot::nodes::caption
