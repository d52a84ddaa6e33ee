#include "models/htdemucs/direct_conv.hpp"
#include "models/htdemucs/lane_mask.hpp"

// Eigen 3.3's AVX-512 packet code trips GCC 12's -Wmaybe-uninitialized inside the compiler's
// own intrinsics headers; the warning is about those headers, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

#if defined(__AVX512F__)

constexpr int kVecs = 4;  // 64 positions per tile
constexpr std::int64_t kTile = 16 * kVecs;
constexpr int kGroup = 6;  // output channels per register tile: 6 x 4 = 24 accumulators

// G output channels from c0 over the tile at i: out[c][i..] = b[c] + sum_j w[c][tap[j]] *
// rows[j][i..], j in order.
template <int G>
void conv_group(const float* const* rows, const int* taps, int n, const float* w, int ldw,
                const float* b, int c0, std::int64_t i, const __mmask16* m, float* out,
                std::int64_t out_plane) {
  __m512 acc[G][kVecs];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[g][v] = _mm512_set1_ps(b != nullptr ? b[c0 + g] : 0.0f);
  for (int j = 0; j < n; ++j) {
    const float* x = rows[j] + i;
    __m512 xv[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) xv[v] = _mm512_maskz_loadu_ps(m[v], x + 16 * v);
    const float* wj = w + static_cast<std::int64_t>(c0) * ldw + taps[j];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m512 wv = _mm512_set1_ps(wj[static_cast<std::int64_t>(g) * ldw]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[g][v] = _mm512_fmadd_ps(wv, xv[v], acc[g][v]);
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v)
      _mm512_mask_storeu_ps(out + (c0 + g) * out_plane + i + 16 * v, m[v], acc[g][v]);
}

// G output pairs (c, c + C) from c0 over the tile at position t: each row j is read through the
// masks of its shift class (cls[j]: 0, 1, 2 for a shift of -1, 0, +1 and so on), which zero the
// lanes that fall outside the input row.
template <int G, bool kOneClass>
void glu_pairs(const float* const* rows, const int* taps, const unsigned char* cls, int n,
               const float* w, int ldw, const float* b, int C, int c0, std::int64_t t,
               const __mmask16 (*m)[kVecs], const __mmask16* store, float* out,
               std::int64_t out_plane) {
  using Eigen::internal::pexp;  // the same exp as pointwise_glu and the unfused GLU
  __m512 a[G][kVecs], g[G][kVecs];
#pragma GCC unroll 8
  for (int j = 0; j < G; ++j) {
    const __m512 ba = _mm512_set1_ps(b != nullptr ? b[c0 + j] : 0.0f);
    const __m512 bg = _mm512_set1_ps(b != nullptr ? b[c0 + j + C] : 0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      a[j][v] = ba;
      g[j][v] = bg;
    }
  }
  const float* wa = w + static_cast<std::int64_t>(c0) * ldw;
  const float* wg = w + static_cast<std::int64_t>(c0 + C) * ldw;
  // One shift class (a 1x1 conv): the masks stay in registers instead of being looked up per row.
  __mmask16 one_class[kVecs];
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v) one_class[v] = m[0][v];
  for (int k = 0; k < n; ++k) {
    const float* x = rows[k] + t;
    __m512 xv[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v)
      xv[v] = _mm512_maskz_loadu_ps(kOneClass ? one_class[v] : m[cls[k]][v], x + 16 * v);
    const int tap = taps[k];
#pragma GCC unroll 8
    for (int j = 0; j < G; ++j) {
      const __m512 va = _mm512_set1_ps(wa[static_cast<std::int64_t>(j) * ldw + tap]);
      const __m512 vg = _mm512_set1_ps(wg[static_cast<std::int64_t>(j) * ldw + tap]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        a[j][v] = _mm512_fmadd_ps(va, xv[v], a[j][v]);
        g[j][v] = _mm512_fmadd_ps(vg, xv[v], g[j][v]);
      }
    }
  }
  const __m512 one = _mm512_set1_ps(1.0f);
#pragma GCC unroll 8
  for (int j = 0; j < G; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      const __m512 q = _mm512_div_ps(
          a[j][v], _mm512_add_ps(one, pexp(_mm512_sub_ps(_mm512_setzero_ps(), g[j][v]))));
      _mm512_mask_storeu_ps(out + (c0 + j) * out_plane + t + 16 * v, store[v], q);
    }
}

#endif

// Beyond this reduction a 64-position tile of the input rows (K x 256 bytes) no longer fits L2
// next to everything else and the GEMM path was as fast: measured at 1 thread, the decoder
// rewrites at K = 432 (dec3) 202 -> 175 ms, 1728 (dec1) 184 -> 179 ms, 3456 (dec0) 185 -> 190 ms;
// the time branch's (K = 144 to 1152) 26-37 -> 25-26 ms.
constexpr int kMaxSameConvRows = 2048;

// floor(a / b) for b > 0.
int floor_div(int a, int b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The phase-split layout of a strided conv's block: tap k reads phase (k - pad) mod s at offset
// floor((k - pad) / s) from the output index.
struct PhaseLayout {
  int s, min_off, max_off;
  explicit PhaseLayout(const ConvGeom& g)
      : s(g.sw), min_off(floor_div(-g.pw, g.sw)), max_off(floor_div(g.kw - 1 - g.pw, g.sw)) {}
  // Floats of one phase row for a block of `block` outputs, padded to whole cache lines.
  std::int64_t row_floats(std::int64_t block) const {
    return (block + max_off - min_off + 15) / 16 * 16;
  }
};

// dst[r * phase_stride + i] = x[s * (first + i) + r] for i < count, r < s; zero outside [0, w).
// Stride 4 (every HTDemucs encoder) deinterleaves 64 inputs into four 16-lane phases with
// permutes where the whole span is inside the input; the rest goes element by element.
void split_phases(const float* x, std::int64_t w, int s, std::int64_t first, std::int64_t count,
                  float* dst, std::int64_t phase_stride) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  if (s == 4) {
    // Lanes 0-7: elements r, r + 4, ..., r + 28 of a pair of vectors; then two halves joined.
    const __m512i join = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i pick[4];
    for (int r = 0; r < 4; ++r)
      pick[r] = _mm512_set_epi32(28 + r, 24 + r, 20 + r, 16 + r, 12 + r, 8 + r, 4 + r, r, 28 + r,
                                 24 + r, 20 + r, 16 + r, 12 + r, 8 + r, 4 + r, r);
    // Scalar until the span starts inside the input, vectors while 64 inputs remain.
    for (; i < count && 4 * (first + i) < 0; ++i)
      for (int r = 0; r < 4; ++r) {
        const std::int64_t q = 4 * (first + i) + r;
        dst[r * phase_stride + i] = q >= 0 && q < w ? x[q] : 0.0f;
      }
    for (; i + 16 <= count && 4 * (first + i) + 64 <= w; i += 16) {
      const float* src = x + 4 * (first + i);
      const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
      const __m512 v2 = _mm512_loadu_ps(src + 32), v3 = _mm512_loadu_ps(src + 48);
      for (int r = 0; r < 4; ++r) {
        const __m512 lo = _mm512_permutex2var_ps(v0, pick[r], v1);
        const __m512 hi = _mm512_permutex2var_ps(v2, pick[r], v3);
        _mm512_storeu_ps(dst + r * phase_stride + i, _mm512_permutex2var_ps(lo, join, hi));
      }
    }
  }
#endif
  for (; i < count; ++i)
    for (int r = 0; r < s; ++r) {
      const std::int64_t q = s * (first + i) + r;
      dst[r * phase_stride + i] = q >= 0 && q < w ? x[q] : 0.0f;
    }
}

// The largest block (a multiple of 64 outputs, at most 512) whose phase rows fit `scratch`.
std::int64_t time_block(const PhaseLayout& p, int cin, std::int64_t scratch) {
  for (std::int64_t block = 512; block >= 64; block -= 64)
    if (static_cast<std::int64_t>(p.s) * cin * p.row_floats(block) <= scratch) return block;
  return 0;
}

}  // namespace

void conv_rows(const float* const* rows, const int* taps, int n, const float* w, int ldw,
               const float* b, int C, std::int64_t len, float* out, std::int64_t out_plane) {
#if defined(__AVX512F__)
  for (std::int64_t i = 0; i < len; i += kTile) {
    __mmask16 m[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      m[v] = lane_mask(len - i - 16 * v);
    }
    int c = 0;
    for (; c + kGroup <= C; c += kGroup)
      conv_group<kGroup>(rows, taps, n, w, ldw, b, c, i, m, out, out_plane);
    for (; c < C; ++c) conv_group<1>(rows, taps, n, w, ldw, b, c, i, m, out, out_plane);
  }
#else
  for (int c = 0; c < C; ++c)
    for (std::int64_t i = 0; i < len; ++i) {
      float acc = b != nullptr ? b[c] : 0.0f;
      for (int j = 0; j < n; ++j)
        acc += w[static_cast<std::int64_t>(c) * ldw + taps[j]] * rows[j][i];
      out[c * out_plane + i] = acc;
    }
#endif
}

bool time_conv_supported(const ConvGeom& g, const Act& in, const Act& out, std::int64_t scratch) {
#if defined(__AVX512F__)
  return in.h == 1 && out.h == 1 && g.kh == 1 && g.sh == 1 && g.ph == 0 && g.dw == 1 && g.sw >= 2 &&
         g.sw <= 8 && g.kw >= 1 && in.c * g.kw <= kMaxConvRows &&
         time_block(PhaseLayout(g), in.c, scratch) > 0;
#else
  (void)g, (void)in, (void)out, (void)scratch;
  return false;
#endif
}

void time_conv(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
               const Act& out, Workers& workers, bool gelu) {
  const PhaseLayout p(g);
  const int cin = in.c, kw = g.kw, s = g.sw;
  const std::int64_t scratch = static_cast<std::int64_t>(workers.cols.front().capacity);
  if (!time_conv_supported(g, in, out, scratch))
    throw std::logic_error("htdemucs: time_conv on an unsupported geometry");
  const std::int64_t block = time_block(p, cin, scratch);
  const std::int64_t stride = p.row_floats(block);
  workers.run(out.w, 64, [&](std::int64_t b, std::int64_t e, int worker) {
    float* phases = workers.cols[worker].cols;
    // Every block's phase rows sit at the same places in the worker's scratch, so the row
    // pointers are set once.
    std::array<const float*, kMaxConvRows> rows{};
    std::array<int, kMaxConvRows> taps{};
    int n = 0;
    for (int ci = 0; ci < cin; ++ci)
      for (int k = 0; k < kw; ++k) {
        const int d = k - g.pw;
        const int off = floor_div(d, s), r = d - off * s;
        rows[n] = phases + (static_cast<std::int64_t>(r) * cin + ci) * stride + (off - p.min_off);
        taps[n] = ci * kw + k;
        ++n;
      }
    for (std::int64_t p0 = b; p0 < e; p0 += block) {
      const std::int64_t len = std::min(block, e - p0);
      // Phase r of channel ci: entries i - (p0 + min_off) = x[ci][s * i + r], for i from
      // p0 + min_off to p0 + len + max_off; zero outside the input.
      const std::int64_t first = p0 + p.min_off, count = len + p.max_off - p.min_off;
      for (int ci = 0; ci < cin; ++ci)
        split_phases(in.data + static_cast<std::int64_t>(ci) * in.w, in.w, s, first, count,
                     phases + static_cast<std::int64_t>(ci) * stride, cin * stride);
      conv_rows(rows.data(), taps.data(), n, weight, cin * kw, bias, out.c, len, out.data + p0,
                out.w);
      if (gelu)
        for (int c = 0; c < out.c; ++c)
          gelu_inplace(out.data + static_cast<std::int64_t>(c) * out.w + p0, len);
    }
  });
}

void conv_glu_rows(const float* const* rows, const int* taps, const unsigned char* cls, int n,
                   const float* w, int ldw, const float* b, int C, std::int64_t t0, std::int64_t t1,
                   std::int64_t W, int classes, int first_shift, float* out,
                   std::int64_t out_plane) {
#if defined(__AVX512F__)
  for (std::int64_t t = t0; t < t1; t += kTile) {
    __mmask16 m[kMaxShiftClasses][kVecs];
    __mmask16 store[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      const std::int64_t p0 = t + 16 * v;  // position of lane 0
      store[v] = lane_mask(0, t1 - p0);
      for (int c = 0; c < classes; ++c) {
        const std::int64_t shift = first_shift + c;  // lane l reads input p0 + l + shift
        m[c][v] = static_cast<__mmask16>(store[v] & lane_mask(-(p0 + shift), W - (p0 + shift)));
      }
    }
    int c = 0;
    if (classes == 1) {
      for (; c + 3 <= C; c += 3)
        glu_pairs<3, true>(rows, taps, cls, n, w, ldw, b, C, c, t, m, store, out, out_plane);
      for (; c < C; ++c)
        glu_pairs<1, true>(rows, taps, cls, n, w, ldw, b, C, c, t, m, store, out, out_plane);
      continue;
    }
    for (; c + 3 <= C; c += 3)
      glu_pairs<3, false>(rows, taps, cls, n, w, ldw, b, C, c, t, m, store, out, out_plane);
    for (; c < C; ++c)
      glu_pairs<1, false>(rows, taps, cls, n, w, ldw, b, C, c, t, m, store, out, out_plane);
  }
#else
  for (int c = 0; c < C; ++c)
    for (std::int64_t t = t0; t < t1; ++t) {
      float a = b != nullptr ? b[c] : 0.0f, g = b != nullptr ? b[c + C] : 0.0f;
      for (int j = 0; j < n; ++j) {
        const std::int64_t q = t + first_shift + cls[j];
        if (q < 0 || q >= W) continue;
        a += w[static_cast<std::int64_t>(c) * ldw + taps[j]] * rows[j][t];
        g += w[static_cast<std::int64_t>(c + C) * ldw + taps[j]] * rows[j][t];
      }
      out[c * out_plane + t] = a / (1.0f + std::exp(-g));
    }
#endif
}

bool same_conv_glu_supported(const ConvGeom& g, const Act& in, const Act& out) {
#if defined(__AVX512F__)
  return g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.kh % 2 == 1 && g.kw % 2 == 1 &&
         g.ph == g.kh / 2 && g.pw == g.kw / 2 && g.kw <= kMaxShiftClasses && in.h == out.h &&
         in.w == out.w && in.c * g.kh * g.kw <= kMaxSameConvRows;
#else
  (void)g, (void)in, (void)out;
  return false;
#endif
}

void same_conv_glu(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
                   const Act& out, Workers& workers) {
#if defined(__AVX512F__)
  if (!same_conv_glu_supported(g, in, out))
    throw std::logic_error("htdemucs: same_conv_glu on an unsupported geometry");
  const int C = out.c, kh = g.kh, kw = g.kw;
  const std::int64_t W = out.w, P = out.plane();
  // Work items: (row, block of positions); a block's input slice stays in cache while every
  // output pair sweeps it.
  constexpr std::int64_t kBlock = 256;
  const std::int64_t blocks = (W + kBlock - 1) / kBlock;
  workers.run(
      static_cast<std::int64_t>(out.h) * blocks, 1, [&](std::int64_t i0, std::int64_t i1, int) {
        std::array<const float*, kMaxConvRows> rows{};
        std::array<int, kMaxConvRows> taps{};
        std::array<unsigned char, kMaxConvRows> cls{};
        for (std::int64_t item = i0; item < i1; ++item) {
          const int f = static_cast<int>(item / blocks);
          const std::int64_t b0 = (item % blocks) * kBlock;
          const std::int64_t b1 = std::min(W, b0 + kBlock);
          int n = 0;
          for (int ci = 0; ci < in.c; ++ci)
            for (int r = 0; r < kh; ++r) {
              const int src = f + r - g.ph;
              if (src < 0 || src >= in.h) continue;  // zero rows: left out of the sum
              for (int c = 0; c < kw; ++c) {
                // Row pointer for output position 0; masked lanes are never read.
                rows[n] = in.data + ci * in.plane() + src * W + (c - g.pw);
                taps[n] = (ci * kh + r) * kw + c;
                cls[n] = static_cast<unsigned char>(c);
                ++n;
              }
            }
          conv_glu_rows(rows.data(), taps.data(), cls.data(), n, weight, in.c * kh * kw, bias, C,
                        b0, b1, W, kw, -g.pw, out.data + static_cast<std::int64_t>(f) * W, P);
        }
      });
#else
  (void)weight, (void)bias, (void)g, (void)in, (void)out, (void)workers;
  throw std::logic_error("htdemucs: same_conv_glu needs AVX-512");
#endif
}

}  // namespace earshot::htdemucs
