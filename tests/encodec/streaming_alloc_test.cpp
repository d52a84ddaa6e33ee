// The streaming decoder allocates nothing per push: malloc (which operator new and Eigen both
// use) is interposed and counted while frames are pushed. Skipped under AddressSanitizer, whose
// runtime owns malloc; the Release suite runs it.
#include "models/encodec/streaming_decoder.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define EARSHOT_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EARSHOT_COUNT_MALLOC 0
#else
#define EARSHOT_COUNT_MALLOC 1
#endif
#else
#define EARSHOT_COUNT_MALLOC 1
#endif

#if EARSHOT_COUNT_MALLOC
namespace {
bool g_counting = false;
long g_allocations = 0;
}  // namespace
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t n) {
  if (g_counting) ++g_allocations;
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t s) {
  if (g_counting) ++g_allocations;
  return __libc_calloc(n, s);
}
void* realloc(void* p, std::size_t n) {
  if (g_counting) ++g_allocations;
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
  if (g_counting) ++g_allocations;
  return __libc_memalign(a, n);
}
}
#endif

namespace earshot::encodec::test {
namespace {

TEST(StreamingAllocation, PushAndFinishDoNotAllocate) {
#if !EARSHOT_COUNT_MALLOC
  GTEST_SKIP() << "malloc belongs to the sanitizer runtime here";
#else
  rt::MemoryBudget budget{256u << 20};
  const auto model = EncodecModel::load(model_dir("24khz-random"), budget);
  const auto ref = reference("24khz-random");
  const auto codes = ref.load_i32("codes_6kbps");  // [8, 313]
  std::vector<std::int32_t> frame_major(313 * 8);
  for (int f = 0; f < 313; ++f) {
    for (int q = 0; q < 8; ++q) frame_major[f * 8 + q] = codes[q * 313 + f];
  }
  StreamingDecoder stream(model, budget, 8, 5);
  std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
  std::int64_t samples = 0;
  // The counter works: a heap string is seen.
  g_allocations = 0;
  g_counting = true;
  {
    std::string probe(200, 'x');
    asm volatile("" : : "r"(probe.data()) : "memory");
  }
  g_counting = false;
  ASSERT_GE(g_allocations, 1);
  g_allocations = 0;
  g_counting = true;
  for (int f = 0; f < 313;) {
    const int n = 1 + (f % 5);  // pushes of 1..5 frames
    const int take = std::min(n, 313 - f);
    samples += stream.push(frame_major.data() + f * 8, take, out.data());
    f += take;
  }
  samples += stream.finish(out.data());
  stream.reset();
  samples += stream.push(frame_major.data(), 5, out.data());
  g_counting = false;
  EXPECT_EQ(g_allocations, 0);
  EXPECT_EQ(samples, 313 * 320);
#endif
}

}  // namespace
}  // namespace earshot::encodec::test
