// Steady-state decoding allocates nothing per token: every buffer (KV caches, logits, token
// lists, beam candidates, finished sequences, sorting scratch) is reserved when the decoder is
// built. Counted with a replaced global operator new (and zlib's allocator through the
// compression-ratio measure, which keeps one deflate state for the decoder's life).
// The replacement operator new/delete pair uses malloc/free on purpose; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_transcribe.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
// Every unaligned form is replaced so new and delete always pair malloc with free (the aligned
// forms stay the library's, which pair among themselves).
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

long allocations_for(WhisperDecoding& decoding, const DecodingOptions& o, DecodingResult& result) {
  const long before = g_allocations.load();
  decoding.decode_into(o, result);
  return g_allocations.load() - before;
}

TEST(WhisperAllocation, GreedyDecodeAllocatesNothingInSteadyState) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("tiny-random"), budget);
  const auto features = refs("tiny-random").load_f32("encoder_out");
  ThreadTeam team(2);
  WhisperDecoding decoding(*model, budget, 1, &team);
  decoding.set_audio(features.data());
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.prompt = {1000, 2000, 3000};
  DecodingResult result;
  allocations_for(decoding, o, result);  // warm-up: the result's buffers grow once
  // The counter sees allocations: a fresh result must grow its token list.
  const long before = g_allocations.load();
  const DecodingResult fresh = decoding.decode(o);
  EXPECT_GT(g_allocations.load() - before, 0);
  for (bool timestamps : {false, true}) {
    o.without_timestamps = !timestamps;
    allocations_for(decoding, o, result);
    EXPECT_EQ(allocations_for(decoding, o, result), 0) << "timestamps " << timestamps;
    EXPECT_EQ(result.tokens.size(), 24u);
  }
}

struct DecodeSession {
  rt::MemoryBudget budget{512u << 20};
  std::unique_ptr<WhisperModel> model;
  std::vector<float> features;
  std::unique_ptr<WhisperDecoding> decoding;

  explicit DecodeSession(const std::string& name) {
    model = WhisperModel::load(model_dir(name), budget);
    features = refs(name).load_f32("encoder_out");
    decoding = std::make_unique<WhisperDecoding>(*model, budget, 5);
    decoding->set_audio(features.data());
  }
};

// A printable digest of a result, so a run shows the decodes the allocation checks covered.
std::string digest(const DecodingResult& r) {
  char head[64];
  std::snprintf(head, sizeof head, "%zu tokens, sum_logprob %.6f:", r.tokens.size(),
                static_cast<double>(r.sum_logprob));
  std::string s = head;
  for (int t : r.tokens) {
    s += ' ';
    s += std::to_string(t);
  }
  return s;
}

// Beam search (size 5) and sampling with best_of 5: after one warm-up decode, a whole decode
// (every step: forward, filters, candidate ranking, finished list, final ranking) makes no heap
// call, and the result equals the fresh decode's exactly.
void check_steady_state(const std::string& name, DecodingOptions o) {
  DecodeSession s(name);
  const DecodingResult fresh = s.decoding->decode(o);
  DecodingResult result;
  allocations_for(*s.decoding, o, result);  // warm-up: the result's token list grows once
  for (bool timestamps : {true, false}) {
    o.without_timestamps = !timestamps;
    const DecodingResult expected = s.decoding->decode(o);
    allocations_for(*s.decoding, o, result);
    EXPECT_EQ(allocations_for(*s.decoding, o, result), 0)
        << name << " timestamps " << timestamps << ": " << digest(result);
    EXPECT_EQ(result.tokens, expected.tokens);
    EXPECT_EQ(result.sum_logprob, expected.sum_logprob);
    EXPECT_EQ(result.no_speech_prob, expected.no_speech_prob);
    EXPECT_FALSE(result.tokens.empty());
    std::printf("[%s %s] %s\n", name.c_str(), timestamps ? "timestamps" : "notimestamps",
                digest(result).c_str());
  }
  o.without_timestamps = false;
  allocations_for(*s.decoding, o, result);
  EXPECT_EQ(result.tokens, fresh.tokens);
}

TEST(WhisperAllocation, BeamSearchAllocatesNothingInSteadyState) {
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.beam_size = 5;
  check_steady_state("tiny-random", o);
  check_steady_state("v3-random", o);
}

TEST(WhisperAllocation, BeamSearchWithPatienceAllocatesNothingInSteadyState) {
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.beam_size = 3;
  o.patience = 2.0f;
  check_steady_state("tiny-random", o);
}

TEST(WhisperAllocation, SamplingBestOfAllocatesNothingInSteadyState) {
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.temperature = 1.0f;
  o.best_of = 5;
  o.seed = 7;  // reseeded every decode: the same samples each time
  check_steady_state("tiny-random", o);
}

// One whole transcribe() window step: encoder, then decoding with temperature fallback through
// every temperature (a log-prob threshold of 0 rejects every decode: greedy or beam, then
// best_of 5 sampling at 0.2 ... 1.0), as transcribe() runs it per window. After a warm-up
// window it makes no heap call; beam search at temperature 0 likewise.
TEST(WhisperAllocation, TranscribeWindowPassAllocatesNothingInSteadyState) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("tiny-random"), budget);
  auto audio = refs("tiny-random").load_f32("audio");
  audio.resize(480000, 0.0f);
  const auto mel = whisper_log_mel_padded(audio, model->config.n_mels);
  MelSpanSource source(
      mel, model->config.n_mels,
      static_cast<int>(mel.size() / static_cast<std::size_t>(model->config.n_mels)));
  std::vector<float> window(static_cast<std::size_t>(model->config.n_mels) * 3000);
  source.read(0, 3000, window.data());
  ThreadTeam team(2);
  WhisperTranscriber transcriber(*model, budget, 5, &team);
  TranscribeOptions o;
  o.decode.language = "en";
  o.decode.sample_len = 16;
  o.decode.best_of = 5;
  o.decode.seed = 11;
  o.decode.prompt = {1000, 2000, 3000};
  o.logprob_threshold = 0.0;  // every decode fails it: all six temperatures run
  o.no_speech_threshold.reset();
  for (int beam : {0, 5}) {
    o.decode.beam_size = beam;
    DecodingResult result;
    transcriber.decode_window_with_fallback(window.data(), o, o.decode, result);  // warm-up
    const float first_temperature = result.temperature;
    const long before = g_allocations.load();
    transcriber.decode_window_with_fallback(window.data(), o, o.decode, result);
    EXPECT_EQ(g_allocations.load() - before, 0) << "beam " << beam;
    EXPECT_EQ(result.temperature, first_temperature);
    EXPECT_EQ(result.temperature, 1.0f) << "the fallback ran through every temperature";
    EXPECT_EQ(o.decode.beam_size, beam);  // the options come back as they were
    EXPECT_EQ(o.decode.temperature, 0.0f);
    EXPECT_EQ(o.decode.best_of, 5);
  }
}

}  // namespace
}  // namespace earshot::models::whisper
