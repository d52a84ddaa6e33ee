#include "models/htdemucs/direct_conv.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
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

#endif

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
      const std::int64_t left = len - i - 16 * v;
      m[v] = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                        : static_cast<__mmask16>(left <= 0 ? 0u : (1u << left) - 1u);
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
    std::array<const float*, kMaxConvRows> rows{};
    std::array<int, kMaxConvRows> taps{};
    for (std::int64_t p0 = b; p0 < e; p0 += block) {
      const std::int64_t len = std::min(block, e - p0);
      // Phase r of channel ci: entries i - (p0 + min_off) = x[ci][s * i + r], for i from
      // p0 + min_off to p0 + len + max_off; zero outside the input.
      const std::int64_t first = p0 + p.min_off, count = len + p.max_off - p.min_off;
      for (int ci = 0; ci < cin; ++ci) {
        const float* x = in.data + static_cast<std::int64_t>(ci) * in.w;
        for (int r = 0; r < s; ++r) {
          float* dst = phases + (static_cast<std::int64_t>(r) * cin + ci) * stride;
          for (std::int64_t i = 0; i < count; ++i) {
            const std::int64_t q = s * (first + i) + r;
            dst[i] = q >= 0 && q < in.w ? x[q] : 0.0f;
          }
        }
      }
      int n = 0;
      for (int ci = 0; ci < cin; ++ci)
        for (int k = 0; k < kw; ++k) {
          const int d = k - g.pw;
          const int off = floor_div(d, s), r = d - off * s;
          rows[n] = phases + (static_cast<std::int64_t>(r) * cin + ci) * stride + (off - p.min_off);
          taps[n] = ci * kw + k;
          ++n;
        }
      conv_rows(rows.data(), taps.data(), n, weight, cin * kw, bias, out.c, len, out.data + p0,
                out.w);
      if (gelu)
        for (int c = 0; c < out.c; ++c)
          gelu_inplace(out.data + static_cast<std::int64_t>(c) * out.w + p0, len);
    }
  });
}

}  // namespace earshot::htdemucs
