// Long pathological inputs (one huge pre-tokenizer piece) must round-trip and scale like
// n log n, not n^2. Timed with the thread's CPU clock, best of 3, so a busy machine does not
// make the ratio flaky; a quadratic merge loop would give a ratio near 100 for 10x the input.
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <functional>

#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

using models::whisper::Tokenizer;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double best_encode_seconds(const std::string& text) {
  double best = 1e9;
  for (int run = 0; run < 3; ++run) {
    const double start = thread_cpu_seconds();
    const std::vector<int> ids = tokenizer_99().encode(text);
    best = std::min(best, thread_cpu_seconds() - start);
    EXPECT_FALSE(ids.empty());
  }
  return best;
}

std::string repeat(const std::string& unit, std::size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += unit;
  return out;
}

TEST(WhisperTokenizerScaling, LongRunsRoundTripAndScale) {
  const Tokenizer& tok = tokenizer_99();
  for (const std::string unit : {"a", " ", "!", "7", "ab", "😀", "中"}) {
    SCOPED_TRACE("unit '" + unit + "'");
    const std::string small = repeat(unit, 20000) + "x";
    const std::string large = repeat(unit, 200000) + "x";
    const std::vector<int> ids = tok.encode(large);
    EXPECT_EQ(tok.decode(ids), large);
    EXPECT_LT(ids.size(), large.size());  // merges did happen
    const double t_small = std::max(best_encode_seconds(small), 1e-5);
    const double t_large = best_encode_seconds(large);
    std::printf("  unit '%s': 20 kB %.2f ms, 200 kB %.2f ms (ratio %.1f)\n", unit.c_str(),
                1e3 * t_small, 1e3 * t_large, t_large / t_small);
    EXPECT_LT(t_large / t_small, 40.0);
  }
}

}  // namespace
}  // namespace earshot::test
