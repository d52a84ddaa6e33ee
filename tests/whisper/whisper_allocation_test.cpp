// Steady-state decoding allocates nothing per token: every buffer (KV caches, logits, token
// lists) is reserved when the decoder is built. Counted with a replaced global operator new.
// The replacement operator new/delete pair uses malloc/free on purpose; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "models/whisper/whisper_decoding.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace earshot::models::whisper
