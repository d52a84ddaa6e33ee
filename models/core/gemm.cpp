#include "models/core/gemm.hpp"

// Eigen 3.3's AVX-512 packet code trips GCC 12's -Wmaybe-uninitialized inside the compiler's
// own intrinsics headers; the warning is about those headers, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include <algorithm>
#include <stdexcept>

namespace earshot::models {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMat = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
using CMapMat = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;

// Eigen's GEMM packs its operands into blocks it allocates on the heap when they exceed
// EIGEN_STACK_ALLOCATION_LIMIT. To stay allocation-free, a GemmWorkspace hands Eigen
// preallocated packing buffers through its level-3 blocking interface, and the product is run
// with Eigen's own kernel (general_matrix_matrix_product) on those buffers.
class FixedBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  FixedBlocking(float* a, std::int64_t cap_a, float* b, std::int64_t cap_b)
      : cap_a_(cap_a), cap_b_(cap_b) {
    this->m_blockA = a;
    this->m_blockB = b;
  }
  void configure(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    Eigen::Index kc = depth, mc = rows, nc = cols;
    Eigen::internal::computeProductBlockingSizes<float, float, 1>(kc, mc, nc, Eigen::Index{1});
    using Traits = Eigen::internal::gebp_traits<float, float>;
    if (kc * mc > cap_a_)
      mc = std::max<Eigen::Index>(Traits::mr, cap_a_ / kc / Traits::mr * Traits::mr);
    if (kc * nc > cap_b_)
      nc = std::max<Eigen::Index>(Traits::nr, cap_b_ / kc / Traits::nr * Traits::nr);
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
  }

 private:
  std::int64_t cap_a_, cap_b_;
};

thread_local GemmWorkspace* t_workspace = nullptr;

template <int LhsOrder, int RhsOrder>
void packed_product(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, const float* lhs,
                    Eigen::Index lhs_stride, const float* rhs, Eigen::Index rhs_stride, float* res,
                    Eigen::Index res_stride, FixedBlocking& blocking) {
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, float, LhsOrder, false, float,
                                                 RhsOrder, false, Eigen::ColMajor,
                                                 1>::run(rows, cols, depth, lhs, lhs_stride, rhs,
                                                         rhs_stride, res, 1, res_stride, 1.0f,
                                                         blocking, nullptr);
}

}  // namespace

std::int64_t GemmWorkspace::floats_needed() {
  return kPackA + kPackB + 64;
}

GemmWorkspace::GemmWorkspace(float* storage) : pack_a_(storage), pack_b_(storage + kPackA + 32) {}

GemmWorkspace::Scope::Scope(GemmWorkspace& ws) : previous_(t_workspace) {
  t_workspace = &ws;
}
GemmWorkspace::Scope::~Scope() {
  t_workspace = previous_;
}

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, float beta) {
  if (m <= 0 || n <= 0) return;
  if (beta != 0.0f && beta != 1.0f) throw std::invalid_argument("gemm: beta must be 0 or 1");
  if (t_workspace != nullptr) {
    // Row-major C[m,n] = op(A) op(B) is column-major C^T[n,m] = op(B)^T op(A)^T; a row-major
    // stored matrix read column-major is its transpose, which picks each operand's order.
    if (beta == 0.0f) {
      for (std::int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    if (k <= 0) return;
    FixedBlocking blocking(t_workspace->pack_a(), GemmWorkspace::kPackA, t_workspace->pack_b(),
                           GemmWorkspace::kPackB);
    blocking.configure(n, m, k);
    constexpr int Col = Eigen::ColMajor, Row = Eigen::RowMajor;
    if (!trans_b && !trans_a)
      packed_product<Col, Col>(n, m, k, b, ldb, a, lda, c, ldc, blocking);
    else if (!trans_b)
      packed_product<Col, Row>(n, m, k, b, ldb, a, lda, c, ldc, blocking);
    else if (!trans_a)
      packed_product<Row, Col>(n, m, k, b, ldb, a, lda, c, ldc, blocking);
    else
      packed_product<Row, Row>(n, m, k, b, ldb, a, lda, c, ldc, blocking);
    return;
  }
  MapMat C(c, m, n, Eigen::OuterStride<>(ldc));
  if (k <= 0) {
    if (beta == 0.0f) C.setZero();
    return;
  }
  CMapMat A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  CMapMat B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  // Four explicit products: Eigen picks its GEMM kernel from the static expression type.
  if (beta == 0.0f) {
    if (trans_a && trans_b)
      C.noalias() = A.transpose() * B.transpose();
    else if (trans_a)
      C.noalias() = A.transpose() * B;
    else if (trans_b)
      C.noalias() = A * B.transpose();
    else
      C.noalias() = A * B;
  } else {
    if (trans_a && trans_b)
      C.noalias() += A.transpose() * B.transpose();
    else if (trans_a)
      C.noalias() += A.transpose() * B;
    else if (trans_b)
      C.noalias() += A * B.transpose();
    else
      C.noalias() += A * B;
  }
}

}  // namespace earshot::models
