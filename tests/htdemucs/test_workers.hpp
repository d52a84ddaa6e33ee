// Workers for the HTDemucs kernel tests, built as HTDemucs builds them: a team of `threads`
// (none for 1), and per worker an im2col / scratch block and GEMM packing buffers, each 64-byte
// aligned as the model's budget reservations are (Eigen's vectorised sums and maps peel
// differently at other alignments, and every worker must run the same code).
#pragma once

#include "models/htdemucs/ops.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace earshot::htdemucs::test {

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

}  // namespace earshot::htdemucs::test
