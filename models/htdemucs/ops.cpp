#include "models/htdemucs/ops.hpp"

// Eigen 3.3's AVX-512 packet code trips GCC 12's -Wmaybe-uninitialized inside the compiler's
// own intrinsics headers; the warning is about those headers, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMat = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
using CMapMat = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;

// How many output columns fit in the im2col scratch for a reduction size K.
// How many output columns one im2col block holds: about kColumnBlockFloats floats (cache-sized,
// so the GEMM reads the block back from cache), at least 256 columns for an efficient GEMM,
// and never more than the scratch holds.
#ifndef EARSHOT_HTD_COLUMN_BLOCK_FLOATS
#define EARSHOT_HTD_COLUMN_BLOCK_FLOATS \
  (1 << 20)  // 4 MiB: block sizes 2^18..2^28 measured within noise
#endif
constexpr std::int64_t kColumnBlockFloats = EARSHOT_HTD_COLUMN_BLOCK_FLOATS;

std::int64_t column_block(std::size_t capacity, std::int64_t k, std::int64_t total) {
  const std::int64_t fit = static_cast<std::int64_t>(capacity) / std::max<std::int64_t>(k, 1);
  if (fit < 1) throw std::logic_error("htdemucs: im2col scratch too small");
  const std::int64_t target =
      std::max<std::int64_t>(256, kColumnBlockFloats / std::max<std::int64_t>(k, 1));
  return std::min({fit, target, total});
}

}  // namespace

namespace {

// Eigen's GEMM packs its operands into blocks it allocates on the heap when they exceed
// EIGEN_STACK_ALLOCATION_LIMIT. To keep forward() allocation-free, a GemmWorkspace hands
// Eigen preallocated packing buffers through its level-3 blocking interface, and the product is
// run with Eigen's own kernel (general_matrix_matrix_product) on those buffers.
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

void gemm(bool trans_a, bool trans_b, int m, std::int64_t n, int k, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
          float beta) {
  if (t_workspace != nullptr && m > 0 && n > 0) {
    // Row-major C[m,n] = op(A) op(B) is column-major C^T[n,m] = op(B)^T op(A)^T; a row-major
    // stored matrix read column-major is its transpose, which picks each operand's order.
    if (beta == 0.0f) {
      for (int i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    if (k == 0) return;
    FixedBlocking blocking(t_workspace->pack_a_, GemmWorkspace::kPackA, t_workspace->pack_b_,
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

void linear(const float* x, std::int64_t n, int in, const float* w, const float* bias, int out,
            float* y) {
  gemm(false, true, static_cast<int>(n), out, in, x, in, w, in, y, out, 0.0f);
  MapMat Y(y, n, out, Eigen::OuterStride<>(out));
  if (bias != nullptr) {
    Eigen::Map<const Eigen::RowVectorXf> bv(bias, out);
    Y.rowwise() += bv;
  }
}

void conv2d(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
            const Act& out, ConvScratch& scratch) {
  const int cin = in.c;
  const int K = cin * g.kh * g.kw;
  const std::int64_t N = out.plane();
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 &&
                         g.pw == 0 && in.h == out.h && in.w == out.w;
  if (pointwise) {
    gemm(false, false, out.c, N, K, weight, K, in.data, N, out.data, N, 0.0f);
  } else {
    const std::int64_t nb = column_block(scratch.capacity, K, N);
    for (std::int64_t n0 = 0; n0 < N; n0 += nb) {
      const std::int64_t cnt = std::min(nb, N - n0);
      // im2col for columns [n0, n0 + cnt): row (ci, i, j), column (oh, ow), one output row
      // segment at a time so that unit-stride rows are plain copies.
      for (int ci = 0; ci < cin; ++ci) {
        const float* src = in.data + static_cast<std::int64_t>(ci) * in.plane();
        for (int i = 0; i < g.kh; ++i) {
          for (int j = 0; j < g.kw; ++j) {
            float* row =
                scratch.cols + ((static_cast<std::int64_t>(ci) * g.kh + i) * g.kw + j) * cnt;
            std::int64_t n = n0;
            while (n < n0 + cnt) {
              const std::int64_t oh = n / out.w, ow0 = n % out.w;
              const std::int64_t ow1 = std::min<std::int64_t>(out.w, ow0 + (n0 + cnt - n));
              float* dst = row + (n - n0);
              const std::int64_t ih = oh * g.sh - g.ph + static_cast<std::int64_t>(i) * g.dh;
              const std::int64_t shift = -g.pw + static_cast<std::int64_t>(j) * g.dw;
              if (ih < 0 || ih >= in.h) {
                std::fill(dst, dst + (ow1 - ow0), 0.0f);
              } else if (g.sw == 1) {
                const float* line = src + ih * in.w;
                const std::int64_t lo = std::clamp<std::int64_t>(-shift, ow0, ow1);
                const std::int64_t hi = std::clamp<std::int64_t>(in.w - shift, lo, ow1);
                std::fill(dst, dst + (lo - ow0), 0.0f);
                std::copy(line + lo + shift, line + hi + shift, dst + (lo - ow0));
                std::fill(dst + (hi - ow0), dst + (ow1 - ow0), 0.0f);
              } else {
                const float* line = src + ih * in.w;
                for (std::int64_t ow = ow0; ow < ow1; ++ow) {
                  const std::int64_t iw = ow * g.sw + shift;
                  dst[ow - ow0] = (iw >= 0 && iw < in.w) ? line[iw] : 0.0f;
                }
              }
              n += ow1 - ow0;
            }
          }
        }
      }
      gemm(false, false, out.c, cnt, K, weight, K, scratch.cols, cnt, out.data + n0, N, 0.0f);
    }
  }
  if (bias != nullptr) {
    for (int co = 0; co < out.c; ++co) {
      float* dst = out.data + static_cast<std::int64_t>(co) * N;
      const float b = bias[co];
      for (std::int64_t t = 0; t < N; ++t) dst[t] += b;
    }
  }
}

void conv_transpose2d(const float* weight, const float* bias, int kh, int kw, int sh, int sw,
                      int crop_h, int crop_w, const Act& in, const Act& out, ConvScratch& scratch) {
  const int cin = in.c;
  const int cout = out.c;
  const int M = cout * kh * kw;
  const std::int64_t N = in.plane();
  const std::int64_t OP = out.plane();
  for (int co = 0; co < cout; ++co) {
    float* dst = out.data + static_cast<std::int64_t>(co) * OP;
    std::fill(dst, dst + OP, bias != nullptr ? bias[co] : 0.0f);
  }
  const std::int64_t nb = column_block(scratch.capacity, M, N);
  for (std::int64_t n0 = 0; n0 < N; n0 += nb) {
    const std::int64_t cnt = std::min(nb, N - n0);
    // cols[(co, i, j), n] = sum_ci W[ci, (co, i, j)] * in[ci, n]
    gemm(true, false, M, cnt, cin, weight, M, in.data + n0, N, scratch.cols, cnt, 0.0f);
    // col2im: scatter-add into the cropped output, one input row segment at a time.
    for (int co = 0; co < cout; ++co) {
      float* dst = out.data + static_cast<std::int64_t>(co) * OP;
      for (int i = 0; i < kh; ++i) {
        for (int j = 0; j < kw; ++j) {
          const float* row =
              scratch.cols + ((static_cast<std::int64_t>(co) * kh + i) * kw + j) * cnt;
          std::int64_t n = n0;
          while (n < n0 + cnt) {
            const std::int64_t ih = n / in.w, iw0 = n % in.w;
            const std::int64_t iw1 = std::min<std::int64_t>(in.w, iw0 + (n0 + cnt - n));
            const float* src = row + (n - n0);
            const std::int64_t oh = ih * sh + i - crop_h;
            if (oh >= 0 && oh < out.h) {
              float* line = dst + oh * out.w;
              const std::int64_t shift = j - crop_w;
              if (sw == 1) {
                const std::int64_t lo = std::clamp<std::int64_t>(-shift, iw0, iw1);
                const std::int64_t hi = std::clamp<std::int64_t>(out.w - shift, lo, iw1);
                for (std::int64_t iw = lo; iw < hi; ++iw) line[iw + shift] += src[iw - iw0];
              } else {
                for (std::int64_t iw = iw0; iw < iw1; ++iw) {
                  const std::int64_t ow = iw * sw + shift;
                  if (ow >= 0 && ow < out.w) line[ow] += src[iw - iw0];
                }
              }
            }
            n += iw1 - iw0;
          }
        }
      }
    }
  }
}

void group_norm(const Act& x, int groups, const float* gamma, const float* beta, float eps,
                bool per_row) {
  using Arr = Eigen::Map<Eigen::ArrayXf>;
  const int cpg = x.c / groups;
  const int rows = per_row ? x.h : 1;
  const std::int64_t row_len = per_row ? x.w : x.plane();
  const std::int64_t P = x.plane();
  for (int r = 0; r < rows; ++r) {
    const std::int64_t off = per_row ? static_cast<std::int64_t>(r) * x.w : 0;
    for (int gi = 0; gi < groups; ++gi) {
      // Two passes (mean, then squared deviations), vectorised within each channel's segment
      // and summed across channels in double.
      double sum = 0.0;
      for (int c = gi * cpg; c < (gi + 1) * cpg; ++c)
        sum += Arr(x.data + c * P + off, row_len).sum();
      const double count = static_cast<double>(cpg) * static_cast<double>(row_len);
      const double mean = sum / count;
      double var = 0.0;
      const auto fmean = static_cast<float>(mean);
      for (int c = gi * cpg; c < (gi + 1) * cpg; ++c)
        var += (Arr(x.data + c * P + off, row_len) - fmean).square().sum();
      var /= count;  // biased, as torch's GroupNorm
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int c = gi * cpg; c < (gi + 1) * cpg; ++c) {
        const auto scale = static_cast<float>(inv * gamma[c]);
        const auto shift = static_cast<float>(beta[c] - mean * inv * gamma[c]);
        Arr a(x.data + c * P + off, row_len);
        a = a * scale + shift;
      }
    }
  }
}

void gelu_inplace(float* x, std::int64_t n) {
  // Exact (erf) GELU with Eigen's vectorised float erf.
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  Eigen::Map<Eigen::ArrayXf> a(x, n);
  a = 0.5f * a * (1.0f + (a * kInvSqrt2).erf());
}

void glu_channels(const Act& in, const Act& out) {
  const std::int64_t half = static_cast<std::int64_t>(out.c) * out.plane();
  Eigen::Map<const Eigen::ArrayXf> a(in.data, half), gate(in.data + half, half);
  Eigen::Map<Eigen::ArrayXf> o(out.data, half);
  o = a / (1.0f + (-gate).exp());
}

void glu_scaled_add(const float* a, const float* gate, float scale, std::int64_t n, float* dst) {
  Eigen::Map<const Eigen::ArrayXf> av(a, n), gv(gate, n);
  Eigen::Map<Eigen::ArrayXf> d(dst, n);
  d += scale * (av / (1.0f + (-gv).exp()));
}

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    Eigen::Map<Eigen::ArrayXf> row(x + r * cols, cols);
    row = (row - row.maxCoeff()).exp();
    row *= 1.0f / row.sum();
  }
}

void layer_norm_rows(const float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                     float eps, float* y) {
  for (std::int64_t r = 0; r < n; ++r) {
    const float* p = x + r * d;
    float* q = y + r * d;
    double sum = 0.0;
    for (int i = 0; i < d; ++i) sum += p[i];
    const double mean = sum / d;
    double var = 0.0;
    for (int i = 0; i < d; ++i) {
      const double t = p[i] - mean;
      var += t * t;
    }
    const double inv = 1.0 / std::sqrt(var / d + eps);
    for (int i = 0; i < d; ++i) q[i] = static_cast<float>((p[i] - mean) * inv) * gamma[i] + beta[i];
  }
}

}  // namespace earshot::htdemucs
