// A full-context (30 s, 1500 positions) encoder pass makes zero heap calls: every GEMM packs
// into per-worker GemmWorkspaces reserved from the budget (models/core/gemm.hpp), not into
// Eigen's heap blocks. Counted at malloc itself (Eigen allocates with malloc, not operator new),
// process-wide (tests/heap_counter.hpp).
#include "models/whisper/whisper_decoder.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "tests/heap_counter.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <vector>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

TEST(WhisperEncoderHeap, CounterSeesMalloc) {
  // The counter works (otherwise the test below would prove nothing).
  const long before = earshot::test::heap_allocations();
  void* volatile p = std::malloc(1000);
  std::free(p);
  EXPECT_GT(earshot::test::heap_allocations(), before);
}

void check_full_context_pass(const WhisperModel& m, const std::vector<float>& mel,
                             const std::string& name, int threads) {
  const WhisperModel* model = &m;
  rt::MemoryBudget budget(512u << 20);
  ThreadTeam team(threads);
  WhisperEncoder encoder(*model, budget, &team);
  const int frames = model->config.n_mel_frames();
  std::vector<float> out(static_cast<std::size_t>(model->config.n_audio_ctx) *
                         model->config.d_model);
  encoder.forward(mel.data(), model->config.n_mels, frames, out.data());  // warm-up
  const long before = earshot::test::heap_allocations();
  encoder.forward(mel.data(), model->config.n_mels, frames, out.data());
  const long calls = earshot::test::heap_allocations() - before;
  std::printf("[%s, %d thread(s)] full-context encoder pass: %ld heap calls\n", name.c_str(),
              threads, calls);
  EXPECT_EQ(calls, 0);
}

void check_fixture(const std::string& name, int threads) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir(name), budget);
  check_full_context_pass(*model, refs(name).load_f32("mel"), name, threads);
}

TEST(WhisperEncoderHeap, TinyFullContextPassMakesNoHeapCalls) {
  check_fixture("tiny-random", 1);
  check_fixture("tiny-random", 2);
}
TEST(WhisperEncoderHeap, V3FullContextPassMakesNoHeapCalls) {
  check_fixture("v3-random", 2);
}

// Whisper tiny's widths (d 384, MLP 1536, 6 heads, 1500 audio positions) with one layer each.
WhisperConfig tiny_width_one_layer() {
  WhisperConfig c;
  c.n_mels = 80;
  c.n_vocab = 51865;
  c.n_audio_ctx = 1500;
  c.n_text_ctx = 448;
  c.d_model = 384;
  c.encoder_layers = c.decoder_layers = 1;
  c.encoder_heads = c.decoder_heads = 6;
  c.encoder_ffn = c.decoder_ffn = 4 * c.d_model;
  c.source = "tiny width, 1 layer";
  return c;
}

// The fixtures' d = 32 keeps Eigen's packing blocks small enough for its stack buffers; the
// real tiny width (d 384, MLP 1536, 6 heads; one layer to keep the test short) is where an
// Eigen product would take heap blocks.
TEST(WhisperEncoderHeap, RealTinyWidthFullContextPassMakesNoHeapCalls) {
  const WhisperConfig c = tiny_width_one_layer();
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::random(c, budget, true, 3);
  std::vector<float> mel(static_cast<std::size_t>(c.n_mels) * c.n_mel_frames());
  for (std::size_t i = 0; i < mel.size(); ++i)
    mel[i] = static_cast<float>((i * 7919) % 200) / 100.0f - 1.0f;
  check_full_context_pass(*model, mel, "tiny width", 2);
  check_full_context_pass(*model, mel, "tiny width", 1);
}

// The decoder's set_audio (K/V projections of 1500 positions) and a 16-token prompt pack into
// the encoder's GEMM workspaces: zero heap calls at the real tiny width.
TEST(WhisperEncoderHeap, DecoderSetAudioAndPromptWithEncoderWorkspacesMakeNoHeapCalls) {
  const WhisperConfig c = tiny_width_one_layer();
  rt::MemoryBudget budget(768u << 20);
  auto model = WhisperModel::random(c, budget, true, 3);
  ThreadTeam team(2);
  WhisperEncoder encoder(*model, budget, &team);
  WhisperDecoder decoder(*model, budget, 1, &team);
  decoder.set_gemm_workspaces(encoder.gemm_workspaces());
  std::vector<float> features(static_cast<std::size_t>(c.n_audio_ctx) * c.d_model);
  for (std::size_t i = 0; i < features.size(); ++i)
    features[i] = static_cast<float>((i * 7919) % 200) / 100.0f - 1.0f;
  std::vector<int> prompt(16);
  for (int i = 0; i < 16; ++i) prompt[static_cast<std::size_t>(i)] = 1000 + 37 * i;
  std::vector<float> logits(static_cast<std::size_t>(c.n_vocab));
  auto pass = [&] {
    decoder.set_audio(features.data());
    const float* h = decoder.forward(0, prompt.data(), 16);
    decoder.logits(h + 15 * c.d_model, 1, logits.data());
  };
  pass();  // warm-up
  const long before = earshot::test::heap_allocations();
  pass();
  const long calls = earshot::test::heap_allocations() - before;
  std::printf("[tiny width] decoder set_audio + 16-token prompt: %ld heap calls\n", calls);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace earshot::models::whisper
