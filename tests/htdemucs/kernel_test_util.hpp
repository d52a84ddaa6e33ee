// Shared pieces of the HTDemucs kernel tests: workers built as the model builds them, random
// weights, and the check every kernel test makes against its double-precision reference.
#pragma once

#include "models/core/tensor.hpp"
#include "models/htdemucs/ops.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace earshot::htdemucs::test {

// A team of `threads` (none for 1), and per worker an im2col / scratch block and GEMM packing
// buffers, each 64-byte aligned as the model's budget reservations are (Eigen's vectorised sums
// and maps peel differently at other alignments, and every worker must run the same code).
struct TestWorkers {
  TestWorkers(int threads, std::int64_t col_floats) {
    if (threads > 1) team = std::make_unique<rt::ThreadTeam>(threads);
    workers.parallel = team.get();
    for (int i = 0; i < workers.size(); ++i) {
      cols.emplace_back(static_cast<std::size_t>(col_floats) + 16);
      workers.cols.push_back({aligned(cols.back()), static_cast<std::size_t>(col_floats)});
      gemm_mem.emplace_back(static_cast<std::size_t>(GemmWorkspace::floats_needed()) + 16);
      gemm.push_back(std::make_unique<GemmWorkspace>(aligned(gemm_mem.back())));
      workers.gemm.push_back(gemm.back().get());
    }
  }
  static float* aligned(std::vector<float>& v) {
    float* p = v.data();
    while (reinterpret_cast<std::uintptr_t>(p) % 64 != 0) ++p;
    return p;
  }
  std::unique_ptr<rt::ThreadTeam> team;
  std::vector<std::vector<float>> cols, gemm_mem;
  std::vector<std::unique_ptr<GemmWorkspace>> gemm;
  Workers workers;
};

// A tensor of normal(mean, spread) values from the test's budget.
inline models::Tensor random_tensor(rt::MemoryBudget& budget, std::vector<std::int64_t> shape,
                                    std::mt19937& rng, float mean, float spread) {
  models::Tensor t(budget, "kernel_test", std::move(shape));
  std::normal_distribution<float> n(mean, spread);
  for (float& v : t.span()) v = n(rng);
  return t;
}

// One worker count's result against the double reference (|got - ref| / (1 + |ref|) <= bound),
// and bit-identical to the first worker count's (kept in `first`).
inline void expect_close_and_split_independent(const std::vector<float>& got,
                                               const std::vector<double>& expected, double bound,
                                               int threads, std::vector<float>& first) {
  double max_err = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_err = std::max(max_err, std::fabs(got[i] - expected[i]) / (1.0 + std::fabs(expected[i])));
  EXPECT_LE(max_err, bound) << "threads=" << threads;
  if (first.empty())
    first = got;
  else
    EXPECT_EQ(got, first) << "threads=" << threads;
}

}  // namespace earshot::htdemucs::test
