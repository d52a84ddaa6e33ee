// An allocation-free single-precision GEMM for any model: Eigen's own kernel, packing its
// operands into preallocated buffers instead of the heap.
//
// How a model uses it (so that inference allocates nothing in steady state):
//   1. At prepare/load time, reserve GemmWorkspace::floats_needed() floats (64-byte aligned)
//      from the MemoryBudget for every thread that will run products, and build one
//      GemmWorkspace over each reservation.
//   2. On each such thread, open a GemmWorkspace::Scope over its workspace for the duration of
//      the work (e.g. around a forward pass, or inside each rt::parallel_for share).
//   3. Call gemm(...). Inside a Scope it makes no heap call; outside one it falls back to a
//      plain Eigen product, which may allocate (fine for tests and offline tools).
// The blocking (Eigen's cache-derived kc/mc/nc, capped to the buffers) is fixed for a given
// shape, so results are bit-identical from run to run and independent of which thread runs them.
// Eigen stays inside gemm.cpp so that including this header is cheap.
#pragma once

#include <cstdint>

namespace earshot::models {

class GemmWorkspace {
 public:
  static constexpr std::int64_t kPackA = std::int64_t{1} << 20;  // floats (4 MiB)
  static constexpr std::int64_t kPackB = std::int64_t{1} << 21;  // floats (8 MiB)
  // Floats of storage one workspace needs (both packing buffers plus alignment slack).
  static std::int64_t floats_needed();
  explicit GemmWorkspace(float* storage);  // floats_needed() floats, 64-byte aligned

  // Makes `workspace` the one gemm() packs into on this thread until the Scope ends (Scopes
  // nest: the previous one is restored).
  class Scope {
   public:
    explicit Scope(GemmWorkspace& workspace);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    GemmWorkspace* previous_;
  };

  float* pack_a() const { return pack_a_; }
  float* pack_b() const { return pack_b_; }

 private:
  float* pack_a_;
  float* pack_b_;
};

// Row-major GEMM: C[M,N] = op(A) * op(B) + beta * C; A is [M,K] ([K,M] if trans_a), B is
// [K,N] ([N,K] if trans_b); lda/ldb/ldc are row strides in floats. beta is 0 (overwrite; C
// may hold garbage, even NaN) or 1 (accumulate).
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, float beta);

}  // namespace earshot::models
