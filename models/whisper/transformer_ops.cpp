// GCC 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/transformer_ops.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <unsupported/Eigen/SpecialFunctions>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace earshot::models::whisper {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

#ifdef __AVX512F__
// Q K^T for one head with a dedicated kernel. Eigen's GEMM with a depth of only head_dim (64)
// spends much of its time re-packing K for every query block; here K is packed once per head
// into panels of 16 keys ([panel][head_dim][16], zero past n_key) and each query block reads
// it from cache with 8 queries x 16 keys of accumulators.
constexpr int kKeyPanel = 16;

std::size_t packed_keys_floats(int n_key, int head_dim) {
  return static_cast<std::size_t>((n_key + kKeyPanel - 1) / kKeyPanel) * kKeyPanel *
         static_cast<std::size_t>(head_dim);
}

void pack_keys(const float* k, int n_key, int ld, int head_dim, float* packed) {
  const int panels = (n_key + kKeyPanel - 1) / kKeyPanel;
  for (int p = 0; p < panels; ++p) {
    float* dst = packed + static_cast<std::size_t>(p) * head_dim * kKeyPanel;
    for (int l = 0; l < kKeyPanel; ++l) {
      const int key = p * kKeyPanel + l;
      const float* src = k + static_cast<std::size_t>(key) * ld;
      for (int c = 0; c < head_dim; ++c) dst[c * kKeyPanel + l] = key < n_key ? src[c] : 0.0f;
    }
  }
}

// S[r, :] = scale * q[r] . K^T for NQ query rows (q with row stride ld, S with row stride n_key).
template <int NQ>
void score_rows(const float* q, int ld, const float* packed, int n_key, int head_dim, float scale,
                float* s) {
  const int panels = (n_key + kKeyPanel - 1) / kKeyPanel;
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int p = 0; p < panels; ++p) {
    const float* kp = packed + static_cast<std::size_t>(p) * head_dim * kKeyPanel;
    __m512 acc[NQ];
    for (int r = 0; r < NQ; ++r) acc[r] = _mm512_setzero_ps();
    for (int c = 0; c < head_dim; ++c) {
      const __m512 kv = _mm512_loadu_ps(kp + c * kKeyPanel);
      for (int r = 0; r < NQ; ++r)
        acc[r] =
            _mm512_fmadd_ps(_mm512_set1_ps(q[static_cast<std::size_t>(r) * ld + c]), kv, acc[r]);
    }
    const int left = n_key - p * kKeyPanel;
    const __mmask16 mask = left >= kKeyPanel ? static_cast<__mmask16>(0xffff)
                                             : static_cast<__mmask16>((1u << left) - 1u);
    for (int r = 0; r < NQ; ++r)
      _mm512_mask_storeu_ps(s + static_cast<std::size_t>(r) * n_key + p * kKeyPanel, mask,
                            _mm512_mul_ps(acc[r], vscale));
  }
}

void scores_block(const float* q, int rows, int ld, const float* packed, int n_key, int head_dim,
                  float scale, float* s) {
  int r = 0;
  for (; r + 8 <= rows; r += 8)
    score_rows<8>(q + static_cast<std::size_t>(r) * ld, ld, packed, n_key, head_dim, scale,
                  s + static_cast<std::size_t>(r) * n_key);
  for (; r < rows; ++r)
    score_rows<1>(q + static_cast<std::size_t>(r) * ld, ld, packed, n_key, head_dim, scale,
                  s + static_cast<std::size_t>(r) * n_key);
}

// Attention for a few query rows (decoding) over the heads [h0, h1), in one sequential pass
// over the K and V rows: a key row holds every head's slice side by side, so reading head by
// head would stride through memory 64 floats at a time. Softmax is computed online (running
// max and sum, rescaled per chunk of keys), so no scratch beyond a chunk of scores is needed.
constexpr int kMaxFusedHeads = 32;
constexpr int kKeyChunk = 64;

bool fused_few_queries_fits(int heads, int head_dim) {
  return heads <= kMaxFusedHeads && head_dim % 16 == 0 && head_dim <= 256;
}

void few_query_attention(const float* q, int n_query, const float* k, const float* v, int n_key,
                         int ld, int h0, int h1, int head_dim, int causal_offset, float scale,
                         float* out) {
  const int nh = h1 - h0;
  const int vecs = head_dim / 16;
  alignas(64) float s[kMaxFusedHeads][kKeyChunk];
  float m[kMaxFusedHeads], l[kMaxFusedHeads];
  for (int i = 0; i < n_query; ++i) {
    const float* qi = q + static_cast<std::size_t>(i) * ld + h0 * head_dim;
    float* oi = out + static_cast<std::size_t>(i) * ld + h0 * head_dim;
    const int visible = causal_offset < 0 ? n_key : std::min(n_key, causal_offset + i + 1);
    for (int h = 0; h < nh; ++h) {
      m[h] = -std::numeric_limits<float>::infinity();
      l[h] = 0.0f;
    }
    std::fill(oi, oi + static_cast<std::size_t>(nh) * head_dim, 0.0f);
    for (int j0 = 0; j0 < visible; j0 += kKeyChunk) {
      const int count = std::min(kKeyChunk, visible - j0);
      for (int j = 0; j < count; ++j) {
        const float* kj = k + static_cast<std::size_t>(j0 + j) * ld + h0 * head_dim;
        for (int h = 0; h < nh; ++h) {
          __m512 acc = _mm512_setzero_ps();
          for (int c = 0; c < vecs; ++c)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(qi + h * head_dim + c * 16),
                                  _mm512_loadu_ps(kj + h * head_dim + c * 16), acc);
          s[h][j] = _mm512_reduce_add_ps(acc) * scale;
        }
      }
      for (int h = 0; h < nh; ++h) {
        float chunk_max = m[h];
        for (int j = 0; j < count; ++j) chunk_max = std::max(chunk_max, s[h][j]);
        const float rescale = std::exp(m[h] - chunk_max);  // 0 on the first chunk
        m[h] = chunk_max;
        float sum = 0.0f;
        for (int j = 0; j < count; ++j) {
          s[h][j] = std::exp(s[h][j] - chunk_max);
          sum += s[h][j];
        }
        l[h] = l[h] * rescale + sum;
        float* oh = oi + h * head_dim;
        const __m512 r = _mm512_set1_ps(rescale);
        for (int c = 0; c < vecs; ++c)
          _mm512_storeu_ps(oh + c * 16, _mm512_mul_ps(_mm512_loadu_ps(oh + c * 16), r));
      }
      for (int j = 0; j < count; ++j) {
        const float* vj = v + static_cast<std::size_t>(j0 + j) * ld + h0 * head_dim;
        for (int h = 0; h < nh; ++h) {
          const __m512 p = _mm512_set1_ps(s[h][j]);
          float* oh = oi + h * head_dim;
          for (int c = 0; c < vecs; ++c)
            _mm512_storeu_ps(oh + c * 16,
                             _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + h * head_dim + c * 16),
                                             _mm512_loadu_ps(oh + c * 16)));
        }
      }
    }
    for (int h = 0; h < nh; ++h) {
      const float inv = 1.0f / l[h];
      for (int c = 0; c < head_dim; ++c) oi[h * head_dim + c] *= inv;
    }
  }
}
#endif
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

namespace {
// Query rows are taken kQueryBlock at a time so the block's scores (128 x 1500 floats for
// the encoder, 750 KB) stay in L2 between QK^T, the softmax and PV, instead of a 9 MB
// matrix per head making three trips through memory.
constexpr int kQueryBlock = 128;

// Many queries (several blocks): K is packed once per head for the AVX-512 QK^T kernel.
bool packs_keys(int n_query) {
#ifdef __AVX512F__
  return n_query >= 2 * kQueryBlock;
#else
  (void)n_query;
  return false;
#endif
}
}  // namespace

std::size_t attention_scratch_floats(int n_query, int n_key, int head_dim) {
  std::size_t floats =
      static_cast<std::size_t>(std::min(n_query, kQueryBlock)) * static_cast<std::size_t>(n_key);
#ifdef __AVX512F__
  if (packs_keys(n_query)) floats += packed_keys_floats(n_key, head_dim);
#else
  (void)head_dim;
#endif
  return (floats + 15) / 16 * 16;
}

void multi_head_attention(const float* q, int n_query, const float* k, const float* v, int n_key,
                          int ld, int heads, int head_dim, int causal_offset, float* scores,
                          float* out, Parallel* parallel, GemmWorkspace* gemm) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const double work = static_cast<double>(n_query) * n_key * ld;
  // Up to this many queries (decoding: one token per sequence) take the fused one-pass kernel.
  constexpr int kFewQueries = 4;
#ifdef __AVX512F__
  if (n_query <= kFewQueries && fused_few_queries_fits(heads, head_dim)) {
    parallel_for(work >= 65536.0 ? parallel : nullptr, heads, 1, [&](int h0, int h1, int) {
      few_query_attention(q, n_query, k, v, n_key, ld, h0, h1, head_dim, causal_offset, scale, out);
    });
    return;
  }
#endif
  const std::size_t per_worker = attention_scratch_floats(n_query, n_key, head_dim);
  const bool packed_path = packs_keys(n_query);
  auto heads_share = [&](int h0, int h1, int worker) {
    float* block_scores = scores + static_cast<std::size_t>(worker) * per_worker;
    float* packed = block_scores + static_cast<std::size_t>(kQueryBlock) * n_key;
    for (int h = h0; h < h1; ++h) {
      const int c0 = h * head_dim;
#ifdef __AVX512F__
      if (packed_path) pack_keys(k + c0, n_key, ld, head_dim, packed);
#else
      (void)packed;
#endif
      for (int i0 = 0; i0 < n_query; i0 += kQueryBlock) {
        const int rows = std::min(kQueryBlock, n_query - i0);
        const std::size_t off = static_cast<std::size_t>(i0) * ld + c0;
        Eigen::Map<RowMat> S(block_scores, rows, n_key);
        // The packed kernel scales as it stores; the GEMM's raw products are scaled inside
        // the softmax below (exp(scale * (s - max)), the same for scale > 0).
        float row_scale = 1.0f;
#ifdef __AVX512F__
        if (packed_path)
          scores_block(q + off, rows, ld, packed, n_key, head_dim, scale, block_scores);
        else
#endif
        {
          models::gemm(false, true, rows, n_key, head_dim, q + off, ld, k + c0, ld, block_scores,
                       n_key, 0.0f);
          row_scale = scale;
        }
        for (int i = 0; i < rows; ++i) {
          // Keys past the query's own position are masked (weight exactly 0, as -inf in
          // softmax).
          const int visible =
              causal_offset < 0 ? n_key : std::min(n_key, causal_offset + i0 + i + 1);
          auto row = S.row(i).array();
          auto live = row.head(visible);
          const float m = live.maxCoeff();
          live = ((live - m) * row_scale).exp();
          live *= 1.0f / live.sum();
          if (visible < n_key) row.tail(n_key - visible).setZero();
        }
        // out[block rows, head] = S . V_head
        models::gemm(false, false, rows, head_dim, n_key, block_scores, n_key, v + c0, ld,
                     out + off, ld, 0.0f);
      }
    }
  };
  parallel_for(work >= 65536.0 ? parallel : nullptr, heads, 1, [&](int h0, int h1, int worker) {
    if (gemm != nullptr) {
      GemmWorkspace::Scope scope(gemm[worker]);
      heads_share(h0, h1, worker);
    } else {
      heads_share(h0, h1, worker);
    }
  });
}

}  // namespace earshot::models::whisper
