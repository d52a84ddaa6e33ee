#include "models/htdemucs/attention_kernel.hpp"

// GCC 12's AVX-512 intrinsics headers (_mm512_undefined_ps inside set1/maskz helpers) trip
// -W(maybe-)uninitialized in the compiler's own headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>

namespace earshot::htdemucs {
namespace {

#if defined(__AVX512F__)

// R query rows x 48 keys: 3R accumulators stay in registers through the whole d loop; each
// step loads 3 key vectors and broadcasts one query value per row.
template <int R>
void scores_tile48(const float* q, std::int64_t ldq, const float* kt, std::int64_t ldk, int hd,
                   float* s, std::int64_t lds) {
  __m512 acc[R][3];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = acc[r][2] = _mm512_setzero_ps();
  for (int d = 0; d < hd; ++d) {
    const float* k = kt + d * ldk;
    const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16),
                 k2 = _mm512_loadu_ps(k + 32);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 qv = _mm512_set1_ps(q[r * ldq + d]);
      acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(qv, k2, acc[r][2]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(s + r * lds, acc[r][0]);
    _mm512_storeu_ps(s + r * lds + 16, acc[r][1]);
    _mm512_storeu_ps(s + r * lds + 32, acc[r][2]);
  }
}

// R query rows x up to 16 keys (the tail after the 48-key tiles), masked.
template <int R>
void scores_tile16(const float* q, std::int64_t ldq, const float* kt, std::int64_t ldk, int hd,
                   float* s, std::int64_t lds, __mmask16 m) {
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int d = 0; d < hd; ++d) {
    const __m512 k0 = _mm512_maskz_loadu_ps(m, kt + d * ldk);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r * ldq + d]), k0, acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(s + r * lds, m, acc[r]);
}

constexpr int kScoreRows = 8;

template <int R>
void scores_rows(const float* q, std::int64_t ldq, const float* kt, std::int64_t ldk,
                 std::int64_t nk, int hd, float* s, std::int64_t lds) {
  std::int64_t j = 0;
  for (; j + 48 <= nk; j += 48) scores_tile48<R>(q, ldq, kt + j, ldk, hd, s + j, lds);
  for (; j < nk; j += 16) {
    const auto m = static_cast<__mmask16>((1u << std::min<std::int64_t>(16, nk - j)) - 1u);
    scores_tile16<R>(q, ldq, kt + j, ldk, hd, s + j, lds, m);
  }
}

// R query rows x NV*16 value channels (the last vector masked to the head's width); the
// accumulators stay in registers through all nk keys.
template <int R, int NV>
void context_tile(const float* p, std::int64_t ldp, const float* v, std::int64_t ldv,
                  std::int64_t j0, std::int64_t j1, bool first, bool final, const float* inv_sum,
                  float* ctx, std::int64_t ldc, __mmask16 last) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int i = 0; i + 1 < NV; ++i)
      acc[r][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(ctx + r * ldc + 16 * i);
    acc[r][NV - 1] =
        first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(last, ctx + r * ldc + 16 * (NV - 1));
  }
  for (std::int64_t j = j0; j < j1; ++j) {
    const float* vr = v + j * ldv;
    __m512 vv[NV];
#pragma GCC unroll 4
    for (int i = 0; i + 1 < NV; ++i) vv[i] = _mm512_loadu_ps(vr + 16 * i);
    vv[NV - 1] = _mm512_maskz_loadu_ps(last, vr + 16 * (NV - 1));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pv = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i) acc[r][i] = _mm512_fmadd_ps(pv, vv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 scale = _mm512_set1_ps(final ? inv_sum[r] : 1.0f);
#pragma GCC unroll 4
    for (int i = 0; i + 1 < NV; ++i)
      _mm512_storeu_ps(ctx + r * ldc + 16 * i, _mm512_mul_ps(acc[r][i], scale));
    _mm512_mask_storeu_ps(ctx + r * ldc + 16 * (NV - 1), last,
                          _mm512_mul_ps(acc[r][NV - 1], scale));
  }
}

constexpr int kContextRows = 6;
// Keys per pass: a head's values for this many keys (32 KiB at 64 channels) stay in L1 while
// every row tile of the block uses them; the partial sums go through ctx between passes (exact:
// float stores), keeping each output one sequential sum over the keys.
#ifndef EARSHOT_HTD_CONTEXT_KEYS
#define EARSHOT_HTD_CONTEXT_KEYS 128
#endif
constexpr std::int64_t kContextKeys = EARSHOT_HTD_CONTEXT_KEYS;

template <int R>
void context_rows(const float* p, std::int64_t ldp, const float* v, std::int64_t ldv,
                  std::int64_t j0, std::int64_t j1, bool first, bool final, int hd,
                  const float* inv_sum, float* ctx, std::int64_t ldc) {
  // Column chunks of up to 64 channels (4 vectors), the last vector masked.
  for (int c0 = 0; c0 < hd; c0 += 64) {
    const int width = std::min(64, hd - c0);
    const int nv = (width + 15) / 16;
    const auto m = static_cast<__mmask16>((1u << (width - 16 * (nv - 1))) - 1u);
    const float* vc = v + c0;
    float* cc = ctx + c0;
    switch (nv) {
      case 1:
        context_tile<R, 1>(p, ldp, vc, ldv, j0, j1, first, final, inv_sum, cc, ldc, m);
        break;
      case 2:
        context_tile<R, 2>(p, ldp, vc, ldv, j0, j1, first, final, inv_sum, cc, ldc, m);
        break;
      case 3:
        context_tile<R, 3>(p, ldp, vc, ldv, j0, j1, first, final, inv_sum, cc, ldc, m);
        break;
      default:
        context_tile<R, 4>(p, ldp, vc, ldv, j0, j1, first, final, inv_sum, cc, ldc, m);
        break;
    }
  }
}

#endif  // __AVX512F__

}  // namespace

void attention_scores(const float* q, std::int64_t ldq, const float* kt, std::int64_t ldk, int rows,
                      std::int64_t nk, int hd, float* s, std::int64_t lds) {
#if defined(__AVX512F__)
  int r = 0;
  for (; r + kScoreRows <= rows; r += kScoreRows)
    scores_rows<kScoreRows>(q + r * ldq, ldq, kt, ldk, nk, hd, s + r * lds, lds);
  const float* qr = q + r * ldq;
  float* sr = s + r * lds;
  switch (rows - r) {
    case 0:
      break;
    case 1:
      scores_rows<1>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    case 2:
      scores_rows<2>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    case 3:
      scores_rows<3>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    case 4:
      scores_rows<4>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    case 5:
      scores_rows<5>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    case 6:
      scores_rows<6>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
    default:
      scores_rows<7>(qr, ldq, kt, ldk, nk, hd, sr, lds);
      break;
  }
#else
  for (int r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < nk; ++j) {
      float acc = 0.0f;
      for (int d = 0; d < hd; ++d) acc += q[r * ldq + d] * kt[d * ldk + j];
      s[r * lds + j] = acc;
    }
#endif
}

void softmax_numerators(float* s, std::int64_t lds, int rows, std::int64_t nk, float* inv_sum) {
  for (int r = 0; r < rows; ++r) {
    Eigen::Map<Eigen::ArrayXf> row(s + r * lds, nk);
    row = (row - row.maxCoeff()).exp();
    inv_sum[r] = 1.0f / row.sum();
  }
}

void attention_context(const float* p, std::int64_t ldp, const float* v, std::int64_t ldv, int rows,
                       std::int64_t nk, int hd, const float* inv_sum, float* ctx,
                       std::int64_t ldc) {
#if defined(__AVX512F__)
  for (std::int64_t j0 = 0; j0 < nk; j0 += kContextKeys) {
    const std::int64_t j1 = std::min(nk, j0 + kContextKeys);
    const bool first = j0 == 0, final = j1 == nk;
    int r = 0;
    for (; r + kContextRows <= rows; r += kContextRows)
      context_rows<kContextRows>(p + r * ldp, ldp, v, ldv, j0, j1, first, final, hd, inv_sum + r,
                                 ctx + r * ldc, ldc);
    const float* pr = p + r * ldp;
    float* cr = ctx + r * ldc;
    const float* ir = inv_sum + r;
    switch (rows - r) {
      case 0:
        break;
      case 1:
        context_rows<1>(pr, ldp, v, ldv, j0, j1, first, final, hd, ir, cr, ldc);
        break;
      case 2:
        context_rows<2>(pr, ldp, v, ldv, j0, j1, first, final, hd, ir, cr, ldc);
        break;
      case 3:
        context_rows<3>(pr, ldp, v, ldv, j0, j1, first, final, hd, ir, cr, ldc);
        break;
      case 4:
        context_rows<4>(pr, ldp, v, ldv, j0, j1, first, final, hd, ir, cr, ldc);
        break;
      default:
        context_rows<5>(pr, ldp, v, ldv, j0, j1, first, final, hd, ir, cr, ldc);
        break;
    }
  }
#else
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < hd; ++c) {
      float acc = 0.0f;
      for (std::int64_t j = 0; j < nk; ++j) acc += p[r * ldp + j] * v[j * ldv + c];
      ctx[r * ldc + c] = acc * inv_sum[r];
    }
#endif
}

}  // namespace earshot::htdemucs
