// Steady state allocates nothing: a second HTDemucs forward and a separator chunk after the
// first one make no heap allocation (every workspace, Eigen's GEMM packing included, comes from
// the memory budget at construction).
//
// Allocations are counted at malloc, process-wide (tests/heap_counter.hpp).
#include "models/htdemucs/separator.hpp"
#include "rt/thread_team.hpp"
#include "tests/heap_counter.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <vector>

namespace earshot::htdemucs {
namespace {

TEST(HTDemucsNoAlloc, CounterSeesAllocations) {
  // The counter itself works (otherwise the tests below would prove nothing).
  const long before = earshot::test::heap_allocations();
  auto* v = new std::vector<float>(1000);
  delete v;
  EXPECT_GT(earshot::test::heap_allocations(), before);
}

TEST(HTDemucsNoAlloc, ForwardAllocatesNothingInSteadyState) {
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget);
  const auto ref = test::reference("small4");
  const auto in = ref.load_f32("segment_in");
  std::vector<float> out(4 * in.size());
  model->forward(in.data(), model->segment_length(), out.data());  // warm-up (FFTW, caches)
  const long before = earshot::test::heap_allocations();
  model->forward(in.data(), model->segment_length(), out.data());
  model->forward(in.data(), model->segment_length() - 1000, out.data());
  EXPECT_EQ(earshot::test::heap_allocations() - before, 0);
}

TEST(HTDemucsNoAlloc, ThreadedForwardAllocatesNothingInSteadyState) {
  rt::ThreadTeam team(2);  // threads are made here, before counting
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget, "htdemucs", nullptr, &team);
  const auto ref = test::reference("small4");
  const auto in = ref.load_f32("segment_in");
  std::vector<float> out(4 * in.size());
  model->forward(in.data(), model->segment_length(), out.data());  // warm-up
  const long before = earshot::test::heap_allocations();
  model->forward(in.data(), model->segment_length(), out.data());
  EXPECT_EQ(earshot::test::heap_allocations() - before, 0);
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
    const long before = earshot::test::heap_allocations();
    const std::int64_t n = sep.frames_wanted();
    sep.push(frames.data() + 2 * read, n);
    read += n;
    sep.process();
    if (chunk > 0) steady += earshot::test::heap_allocations() - before;
  }
  EXPECT_EQ(steady, 0);
}

}  // namespace
}  // namespace earshot::htdemucs
