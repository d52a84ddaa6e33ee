// GCC 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/transformer_ops.hpp"

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <unsupported/Eigen/SpecialFunctions>

namespace earshot::models::whisper {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::OuterStride<Eigen::Dynamic>;
using ConstHeadMap = Eigen::Map<const RowMat, 0, Strided>;
using HeadMap = Eigen::Map<RowMat, 0, Strided>;
}  // namespace

void layer_norm(const float* x, int n, int d, const LayerNormWeight& norm, float* out,
                Parallel* parallel) {
  const Eigen::Map<const Eigen::ArrayXf> gamma(norm.gamma.data(), d);
  const Eigen::Map<const Eigen::ArrayXf> beta(norm.beta.data(), d);
  parallel_for(n >= 64 ? parallel : nullptr, n, 1, [&](int i0, int i1, int) {
    for (int i = i0; i < i1; ++i) {
      const Eigen::Map<const Eigen::ArrayXf> row(x + static_cast<std::size_t>(i) * d, d);
      Eigen::Map<Eigen::ArrayXf> dst(out + static_cast<std::size_t>(i) * d, d);
      const float mean = row.mean();
      dst = row - mean;  // two passes: exact enough where E[x^2]-E[x]^2 would cancel
      const float var = dst.square().mean();
      const float inv = 1.0f / std::sqrt(var + 1e-5f);
      dst = dst * inv * gamma + beta;
    }
  });
}

void gelu_inplace(float* x, int rows, int width, Parallel* parallel) {
  parallel_for(rows >= 64 ? parallel : nullptr, rows, 1, [&](int r0, int r1, int) {
    Eigen::Map<Eigen::ArrayXf> a(x + static_cast<std::size_t>(r0) * width,
                                 static_cast<Eigen::Index>(r1 - r0) * width);
    a = 0.5f * a * (1.0f + (a * static_cast<float>(M_SQRT1_2)).erf());
  });
}

void add_inplace(float* x, const float* y, std::size_t count) {
  Eigen::Map<Eigen::ArrayXf>(x, static_cast<Eigen::Index>(count)) +=
      Eigen::Map<const Eigen::ArrayXf>(y, static_cast<Eigen::Index>(count));
}

void multi_head_attention(const float* q, int n_query, const float* k, const float* v, int n_key,
                          int ld, int heads, int head_dim, int causal_offset, float* scores,
                          float* out, Parallel* parallel) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const double work = static_cast<double>(n_query) * n_key * ld;
  // Query rows are taken kQueryBlock at a time so the block's scores (128 x 1500 floats for
  // the encoder, 750 KB) stay in L2 between QK^T, the softmax and PV, instead of a 9 MB
  // matrix per head making three trips through memory.
  constexpr int kQueryBlock = 128;
  parallel_for(work >= 65536.0 ? parallel : nullptr, heads, 1, [&](int h0, int h1, int worker) {
    float* block_scores = scores + static_cast<std::size_t>(worker) * n_query * n_key;
    for (int h = h0; h < h1; ++h) {
      const int c0 = h * head_dim;
      ConstHeadMap K(k + c0, n_key, head_dim, Strided(ld));
      ConstHeadMap V(v + c0, n_key, head_dim, Strided(ld));
      for (int i0 = 0; i0 < n_query; i0 += kQueryBlock) {
        const int rows = std::min(kQueryBlock, n_query - i0);
        const std::size_t off = static_cast<std::size_t>(i0) * ld + c0;
        ConstHeadMap Q(q + off, rows, head_dim, Strided(ld));
        HeadMap O(out + off, rows, head_dim, Strided(ld));
        Eigen::Map<RowMat> S(block_scores, rows, n_key);
        S.noalias() = (Q * K.transpose()) * scale;
        for (int i = 0; i < rows; ++i) {
          // Keys past the query's own position are masked (weight exactly 0, as -inf in
          // softmax).
          const int visible =
              causal_offset < 0 ? n_key : std::min(n_key, causal_offset + i0 + i + 1);
          auto row = S.row(i).array();
          auto live = row.head(visible);
          const float m = live.maxCoeff();
          live = (live - m).exp();
          live *= 1.0f / live.sum();
          if (visible < n_key) row.tail(n_key - visible).setZero();
        }
        O.noalias() = S * V;
      }
    }
  });
}

}  // namespace earshot::models::whisper
