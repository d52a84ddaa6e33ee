// Steady state allocates nothing: a second HTDemucs forward and a separator chunk after the
// first one make no heap allocation (every workspace, Eigen's GEMM packing included, comes from
// the memory budget at construction).
//
// Allocations are counted by interposing malloc and friends in this test executable, or,
// under AddressSanitizer (which owns malloc), with its allocation hooks.
#include "models/htdemucs/separator.hpp"
#include "rt/thread_team.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define EARSHOT_HTD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EARSHOT_HTD_ASAN 1
#endif
#endif

namespace {
std::atomic<long> g_allocations{0};
}

#if defined(EARSHOT_HTD_ASAN)
// Declared here: GCC does not ship <sanitizer/allocator_interface.h>.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
void count_malloc(const volatile void*, std::size_t) {
  g_allocations.fetch_add(1);
}
void ignore_free(const volatile void*) {}
const int g_hooks_installed = __sanitizer_install_malloc_and_free_hooks(count_malloc, ignore_free);
}  // namespace
#else
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  return memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  void* p = memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
#endif

namespace earshot::htdemucs {
namespace {

TEST(HTDemucsNoAlloc, CounterSeesAllocations) {
  // The counter itself works (otherwise the tests below would prove nothing).
  const long before = g_allocations.load();
  auto* v = new std::vector<float>(1000);
  delete v;
  EXPECT_GT(g_allocations.load(), before);
}

TEST(HTDemucsNoAlloc, ForwardAllocatesNothingInSteadyState) {
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget);
  const auto ref = test::reference("small4");
  const auto in = ref.load_f32("segment_in");
  std::vector<float> out(4 * in.size());
  model->forward(in.data(), model->segment_length(), out.data());  // warm-up (FFTW, caches)
  const long before = g_allocations.load();
  model->forward(in.data(), model->segment_length(), out.data());
  model->forward(in.data(), model->segment_length() - 1000, out.data());
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(HTDemucsNoAlloc, ThreadedForwardAllocatesNothingInSteadyState) {
  rt::ThreadTeam team(2);  // threads are made here, before counting
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget, "htdemucs", nullptr, &team);
  const auto ref = test::reference("small4");
  const auto in = ref.load_f32("segment_in");
  std::vector<float> out(4 * in.size());
  model->forward(in.data(), model->segment_length(), out.data());  // warm-up
  const long before = g_allocations.load();
  model->forward(in.data(), model->segment_length(), out.data());
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST(HTDemucsNoAlloc, SeparatorChunksAllocateNothing) {
  rt::MemoryBudget budget(512u << 20);
  ModelBag bag = ModelBag::load(test::model_dir("small4"), budget);
  const auto ref = test::reference("small4");
  const auto mix = ref.load_f32("mix");
  const auto T = static_cast<std::int64_t>(mix.size() / 2);
  std::vector<float> frames(static_cast<std::size_t>(2 * T));
  for (std::int64_t t = 0; t < T; ++t)
    for (int c = 0; c < 2; ++c) frames[t * 2 + c] = mix[c * T + t];
  ChunkedSeparator sep(bag, T, {}, budget);
  std::int64_t read = 0;
  long steady = 0;
  for (int chunk = 0; !sep.done(); ++chunk) {
    const long before = g_allocations.load();
    const std::int64_t n = sep.frames_wanted();
    sep.push(frames.data() + 2 * read, n);
    read += n;
    sep.process();
    if (chunk > 0) steady += g_allocations.load() - before;
  }
  EXPECT_EQ(steady, 0);
}

}  // namespace
}  // namespace earshot::htdemucs
