#include "models/htdemucs/dconv.hpp"
#include "models/htdemucs/lane_mask.hpp"

// GCC 12's AVX-512 intrinsics headers (and Eigen's use of them) trip -W(maybe-)uninitialized
// inside the compiler's own headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

// Positions per tile: a tile's hidden activations (hidden x kTile floats) stay in L1/L2
// between the passes over it.
constexpr std::int64_t kTile = 512;
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr double kEps = 1e-5;

// Layout of the statistics scratch: per tile [sum h, sum (h - tile mean)^2 | sum g (hidden) |
// co-moments of g about the tile means (hidden^2, upper triangle)], then per row [mean1, inv1,
// mean2, inv2], then [W2^T W2 | the current row's co-moments of g (hidden^2 each) | its mean
// of g (hidden)].
std::int64_t tile_stride(int hidden) {
  return 2 + hidden + static_cast<std::int64_t>(hidden) * hidden;
}
std::int64_t tiles_per_row(std::int64_t w) {
  return (w + kTile - 1) / kTile;
}

using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;

#if defined(__AVX512F__)

// G hidden channels of conv1 over positions [p0, p1) of one row, 32 positions at a time,
// input channels [c0, c1): out[g][p] (+)= sum_{ci, k} w[g][ci][k] * x[ci][p + (k - 1) * dil],
// starting from b[g] when c0 == 0 and from out otherwise (the partial sums pass through the
// L1-resident tile exactly, so each output stays one sequential sum); x reads as zero outside
// [0, W).
template <int G>
void conv1_group(const float* x, std::int64_t plane, int c0, int c1, int C, std::int64_t W,
                 const float* w, const float* b, int dil, std::int64_t p0, std::int64_t p1,
                 float* out) {
  const std::int64_t wstride = static_cast<std::int64_t>(C) * 3;
  for (std::int64_t p = p0; p < p1; p += 32) {
    __mmask16 load[3][2];
    for (int k = 0; k < 3; ++k)
      for (int v = 0; v < 2; ++v) {
        const std::int64_t q = p + 16 * v + (k - 1) * dil;
        load[k][v] = lane_mask(-q, W - q);
      }
    const __mmask16 store0 = lane_mask(0, p1 - p), store1 = lane_mask(0, p1 - p - 16);
    __m512 acc[G][2];
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      if (c0 == 0) {
        acc[g][0] = acc[g][1] = _mm512_set1_ps(b[g]);
      } else {
        acc[g][0] = _mm512_maskz_loadu_ps(store0, out + g * plane + p);
        acc[g][1] = _mm512_maskz_loadu_ps(store1, out + g * plane + p + 16);
      }
    }
    for (int ci = c0; ci < c1; ++ci) {
      const float* row = x + ci * plane + p;
      const float* wc = w + ci * 3;
#pragma GCC unroll 3
      for (int k = 0; k < 3; ++k) {
        const std::int64_t s = (k - 1) * dil;
        const __m512 x0 = _mm512_maskz_loadu_ps(load[k][0], row + s);
        const __m512 x1 = _mm512_maskz_loadu_ps(load[k][1], row + 16 + s);
#pragma GCC unroll 8
        for (int g = 0; g < G; ++g) {
          const __m512 wv = _mm512_set1_ps(wc[g * wstride + k]);
          acc[g][0] = _mm512_fmadd_ps(wv, x0, acc[g][0]);
          acc[g][1] = _mm512_fmadd_ps(wv, x1, acc[g][1]);
        }
      }
    }
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      _mm512_mask_storeu_ps(out + g * plane + p, store0, acc[g][0]);
      _mm512_mask_storeu_ps(out + g * plane + p + 16, store1, acc[g][1]);
    }
  }
}

// Input channels per pass over a tile: few enough streams for the hardware prefetchers (all
// 48-384 channel rows at once thrashed them; the tile's outputs stay in L1 between passes).
constexpr int kConv1Channels = 8;

void conv1_tile(const float* x, std::int64_t plane, int C, std::int64_t W, int hidden,
                const float* w, const float* b, int dil, std::int64_t p0, std::int64_t p1,
                float* out) {
  const std::int64_t wstride = static_cast<std::int64_t>(C) * 3;
  for (int c0 = 0; c0 < C; c0 += kConv1Channels) {
    const int c1 = std::min(C, c0 + kConv1Channels);
    for (int g0 = 0; g0 < hidden; g0 += 8) {
      const float* wg = w + g0 * wstride;
      float* og = out + g0 * plane;
      switch (std::min(8, hidden - g0)) {
#define EARSHOT_CONV1_CASE(n)                                            \
  case n:                                                                \
    conv1_group<n>(x, plane, c0, c1, C, W, wg, b + g0, dil, p0, p1, og); \
    break;
        EARSHOT_CONV1_CASE(1)
        EARSHOT_CONV1_CASE(2)
        EARSHOT_CONV1_CASE(3)
        EARSHOT_CONV1_CASE(4)
        EARSHOT_CONV1_CASE(5)
        EARSHOT_CONV1_CASE(6)
        EARSHOT_CONV1_CASE(7)
        default:
          EARSHOT_CONV1_CASE(8)
#undef EARSHOT_CONV1_CASE
      }
    }
  }
}

// y[o][p] += ls[o] * a / (1 + exp(-g)) with a = wf[o] . h + bf[o], g = wf[o + C] . h + bf[o + C]
// over positions [p0, p1), 32 at a time, kGluOutputs output rows per sweep over the tile (a
// few y streams at a time for the prefetchers; h stays in L1). HID > 0: the hidden width is
// known and the h vectors stay in registers across a sweep's outputs; HID == 0: any width, h
// reloaded from L1.
constexpr int kGluOutputs = 4;

template <int HID>
void glu_tile(const float* h, std::int64_t plane, int hidden, int C, const float* wf,
              const float* bf, const float* ls, std::int64_t p0, std::int64_t p1, const float* y,
              float* y_out, std::int64_t out_plane, std::int64_t out_shift) {
  using Eigen::internal::pexp;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int ob = 0; ob < C; ob += kGluOutputs) {
    const int oe = std::min(C, ob + kGluOutputs);
    for (std::int64_t p = p0; p < p1; p += 32) {
      const __mmask16 m0 = lane_mask(0, p1 - p), m1 = lane_mask(0, p1 - p - 16);
      constexpr int kRegs = HID > 0 ? HID : 1;
      __m512 h0[kRegs], h1[kRegs];
      if constexpr (HID > 0) {
#pragma GCC unroll 16
        for (int c = 0; c < HID; ++c) {
          h0[c] = _mm512_maskz_loadu_ps(m0, h + c * plane + p);
          h1[c] = _mm512_maskz_loadu_ps(m1, h + c * plane + p + 16);
        }
      }
      for (int o = ob; o < oe; ++o) {
        const float* wa = wf + static_cast<std::int64_t>(o) * hidden;
        const float* wg = wf + static_cast<std::int64_t>(o + C) * hidden;
        __m512 a0 = _mm512_set1_ps(bf[o]), a1 = a0;
        __m512 g0 = _mm512_set1_ps(bf[o + C]), g1 = g0;
        if constexpr (HID > 0) {
#pragma GCC unroll 16
          for (int c = 0; c < HID; ++c) {
            const __m512 va = _mm512_set1_ps(wa[c]), vg = _mm512_set1_ps(wg[c]);
            a0 = _mm512_fmadd_ps(va, h0[c], a0);
            a1 = _mm512_fmadd_ps(va, h1[c], a1);
            g0 = _mm512_fmadd_ps(vg, h0[c], g0);
            g1 = _mm512_fmadd_ps(vg, h1[c], g1);
          }
        } else {
          for (int c = 0; c < hidden; ++c) {
            const __m512 x0 = _mm512_maskz_loadu_ps(m0, h + c * plane + p);
            const __m512 x1 = _mm512_maskz_loadu_ps(m1, h + c * plane + p + 16);
            const __m512 va = _mm512_set1_ps(wa[c]), vg = _mm512_set1_ps(wg[c]);
            a0 = _mm512_fmadd_ps(va, x0, a0);
            a1 = _mm512_fmadd_ps(va, x1, a1);
            g0 = _mm512_fmadd_ps(vg, x0, g0);
            g1 = _mm512_fmadd_ps(vg, x1, g1);
          }
        }
        const __m512 q0 =
            _mm512_div_ps(a0, _mm512_add_ps(one, pexp(_mm512_sub_ps(_mm512_setzero_ps(), g0))));
        const __m512 q1 =
            _mm512_div_ps(a1, _mm512_add_ps(one, pexp(_mm512_sub_ps(_mm512_setzero_ps(), g1))));
        const __m512 s = _mm512_set1_ps(ls[o]);
        const float* yi = y + o * plane + p;
        float* yo = y_out + o * out_plane + p - out_shift;
        _mm512_mask_storeu_ps(yo, m0, _mm512_fmadd_ps(s, q0, _mm512_maskz_loadu_ps(m0, yi)));
        _mm512_mask_storeu_ps(yo + 16, m1,
                              _mm512_fmadd_ps(s, q1, _mm512_maskz_loadu_ps(m1, yi + 16)));
      }
    }
  }
}

#else  // portable fallbacks with the same arithmetic order

void conv1_tile(const float* x, std::int64_t plane, int C, std::int64_t W, int hidden,
                const float* w, const float* b, int dil, std::int64_t p0, std::int64_t p1,
                float* out) {
  for (int g = 0; g < hidden; ++g)
    for (std::int64_t p = p0; p < p1; ++p) {
      float acc = b[g];
      for (int ci = 0; ci < C; ++ci)
        for (int k = 0; k < 3; ++k) {
          const std::int64_t q = p + (k - 1) * dil;
          if (q >= 0 && q < W)
            acc += w[(static_cast<std::int64_t>(g) * C + ci) * 3 + k] * x[ci * plane + q];
        }
      out[g * plane + p] = acc;
    }
}

template <int HID>
void glu_tile(const float* h, std::int64_t plane, int hidden, int C, const float* wf,
              const float* bf, const float* ls, std::int64_t p0, std::int64_t p1, const float* y,
              float* y_out, std::int64_t out_plane, std::int64_t out_shift) {
  for (int o = 0; o < C; ++o)
    for (std::int64_t p = p0; p < p1; ++p) {
      float a = bf[o], g = bf[o + C];
      for (int c = 0; c < hidden; ++c) {
        a += wf[static_cast<std::int64_t>(o) * hidden + c] * h[c * plane + p];
        g += wf[static_cast<std::int64_t>(o + C) * hidden + c] * h[c * plane + p];
      }
      y_out[o * out_plane + p - out_shift] = y[o * plane + p] + ls[o] * (a / (1.0f + std::exp(-g)));
    }
}

#endif

}  // namespace

namespace {

// W2^T W2 (upper triangle) of one layer's conv2: GN2's variance follows from it (see
// LayerSteps::row_stats2).
void compute_gram(const DConvLayerW& l, double* gram) {
  const int hidden = static_cast<int>(l.conv1.b.numel());
  const auto outputs = static_cast<int>(l.conv2.b.numel());
  const std::int64_t hh = static_cast<std::int64_t>(hidden) * hidden;
  const float* w2 = l.conv2.w.data();
  std::fill(gram, gram + hh, 0.0);
  for (int o = 0; o < outputs; ++o) {
    const float* wo = w2 + static_cast<std::int64_t>(o) * hidden;
    for (int c = 0; c < hidden; ++c)
      for (int d = c; d < hidden; ++d) gram[c * hidden + d] += static_cast<double>(wo[c]) * wo[d];
  }
}

// The steps of one layer over tiles and rows, shared by the tile-parallel path (one step over
// all tiles at a time, statistics combined on the calling thread) and the row-wise path (every
// step of every layer for one row on one worker while the row is in cache). Both run the same
// arithmetic in the same order, so they give identical results.
class LayerSteps {
 public:
  LayerSteps(const DConvLayerW& l, const Act& y, float* hid, double* stats, const double* gram)
      : l_(l),
        y_(y),
        hid_(hid),
        stats_(stats),
        gram_(gram),
        C_(y.c),
        hidden_(static_cast<int>(l.conv1.b.numel())),
        W_(y.w),
        P_(y.plane()),
        tpr_(tiles_per_row(y.w)),
        ts_(tile_stride(hidden_)),
        rows_(stats + y.h * tpr_ * ts_) {}

  // 1. conv1, and per tile the sum of h and the squared deviations from the tile's mean (the
  //    tiles combine below without the cancellation of a plain sum of squares).
  void conv1(std::int64_t t) const {
    int row;
    std::int64_t p0, p1;
    range(t, row, p0, p1);
    float* hr = hid_ + row * W_;
    conv1_tile(y_.data + row * W_, P_, C_, W_, hidden_, l_.conv1.w.data(), l_.conv1.b.data(),
               l_.dilation, p0, p1, hr);
    double s = 0.0, m2 = 0.0;
    for (int c = 0; c < hidden_; ++c) s += CArr(hr + c * P_ + p0, p1 - p0).sum();
    const auto tile_mean = static_cast<float>(s / (static_cast<double>(hidden_) * (p1 - p0)));
    for (int c = 0; c < hidden_; ++c)
      m2 += (CArr(hr + c * P_ + p0, p1 - p0) - tile_mean).square().sum();
    stats_[t * ts_] = s;
    stats_[t * ts_ + 1] = m2;
  }

  // GN1's mean and 1/std of row r from its tiles.
  void row_stats1(int r) const {
    const double count1 = static_cast<double>(hidden_) * static_cast<double>(W_);
    double s = 0.0;
    for (std::int64_t t = r * tpr_; t < (r + 1) * tpr_; ++t) s += stats_[t * ts_];
    const double mean = s / count1;
    double m2 = 0.0;  // Chan et al.: the tiles' M2 plus the spread of their means
    for (std::int64_t t = r * tpr_; t < (r + 1) * tpr_; ++t) {
      const double n = hidden_ * tile_len(t);
      const double d = static_cast<double>(static_cast<float>(stats_[t * ts_] / n)) - mean;
      m2 += stats_[t * ts_ + 1] + n * d * d;
    }
    rows_[4 * r] = mean;
    rows_[4 * r + 1] = 1.0 / std::sqrt(m2 / count1 + kEps);  // biased variance, as torch
  }

  // 2. GN1 + GELU in place; per tile the sums of g and its co-moments about the tile means.
  void gelu(std::int64_t t) const {
    int row;
    std::int64_t p0, p1;
    range(t, row, p0, p1);
    const float* g1 = l_.norm1.g.data();
    const float* be1 = l_.norm1.b.data();
    const double mean = rows_[4 * row], inv = rows_[4 * row + 1];
    float* hr = hid_ + row * W_ + p0;
    double* part = stats_ + t * ts_ + 2;
    for (int c = 0; c < hidden_; ++c) {
      Arr a(hr + c * P_, p1 - p0);
      const auto scale = static_cast<float>(inv * g1[c]);
      const auto shift = static_cast<float>(be1[c] - mean * inv * g1[c]);
      a = a * scale + shift;
      a = 0.5f * a * (1.0f + (a * kInvSqrt2).erf());
      part[c] = a.sum();
    }
    const auto n = static_cast<double>(p1 - p0);
    for (int c = 0; c < hidden_; ++c) {
      const auto mc = static_cast<float>(part[c] / n);
      for (int d = c; d < hidden_; ++d) {
        const auto md = static_cast<float>(part[d] / n);
        part[hidden_ + c * hidden_ + d] =
            ((CArr(hr + c * P_, p1 - p0) - mc) * (CArr(hr + d * P_, p1 - p0) - md)).sum();
      }
    }
  }

  // 3. GN2's statistics of row r from those moments: z[o] = W2[o] . g + b2[o] over 2C channels
  //    has mean(z) = mean_o e[o] with e[o] = W2[o] . mean(g) + b2[o], and
  //    var(z) = (trace(W2^T W2 Cov(g)) + sum_o (e[o] - mean(z))^2) / 2C.
  //    `cov` (hidden^2) and `mean_g` (hidden) are scratch.
  void row_stats2(int r, double* cov, double* mean_g) const {
    const double n = static_cast<double>(W_);
    const std::int64_t hh = static_cast<std::int64_t>(hidden_) * hidden_;
    // The row's mean of g and its co-moments, combined from the tiles in order (Chan et al.).
    for (int c = 0; c < hidden_; ++c) {
      double sc = 0.0;
      for (std::int64_t t = r * tpr_; t < (r + 1) * tpr_; ++t) sc += stats_[t * ts_ + 2 + c];
      mean_g[c] = sc / n;
    }
    std::fill(cov, cov + hh, 0.0);
    for (std::int64_t t = r * tpr_; t < (r + 1) * tpr_; ++t) {
      const double* part = stats_ + t * ts_ + 2;
      const double nt = tile_len(t);
      for (int c = 0; c < hidden_; ++c) {
        const double dc = static_cast<double>(static_cast<float>(part[c] / nt)) - mean_g[c];
        for (int d = c; d < hidden_; ++d) {
          const double dd = static_cast<double>(static_cast<float>(part[d] / nt)) - mean_g[d];
          cov[c * hidden_ + d] += part[hidden_ + c * hidden_ + d] + nt * dc * dd;
        }
      }
    }
    const int C2 = 2 * C_;
    auto channel_mean = [&](int o) {  // e[o] = W2[o] . mean_g + b2[o]
      double e = l_.conv2.b.data()[o];
      for (int c = 0; c < hidden_; ++c)
        e += static_cast<double>(l_.conv2.w.data()[static_cast<std::int64_t>(o) * hidden_ + c]) *
             mean_g[c];
      return e;
    };
    double e_sum = 0.0;
    for (int o = 0; o < C2; ++o) e_sum += channel_mean(o);
    const double mean = e_sum / C2;
    double var = 0.0;
    for (int o = 0; o < C2; ++o) {
      const double e = channel_mean(o) - mean;
      var += e * e;
    }
    for (int c = 0; c < hidden_; ++c)
      for (int d = c; d < hidden_; ++d)
        var += (c == d ? 1.0 : 2.0) * gram_[c * hidden_ + d] * (cov[c * hidden_ + d] / n);
    var /= C2;
    rows_[4 * r + 2] = mean;
    rows_[4 * r + 3] = 1.0 / std::sqrt(var + kEps);
  }

  // GN2 of row r folded into conv2: wf (2C x hidden) and bf (2C).
  void fold(int row, float* wf, float* bf) const {
    const float* w2 = l_.conv2.w.data();
    const float* b2 = l_.conv2.b.data();
    const float* g2 = l_.norm2.g.data();
    const float* be2 = l_.norm2.b.data();
    const double mean = rows_[4 * row + 2], inv = rows_[4 * row + 3];
    for (int o = 0; o < 2 * C_; ++o) {
      const auto scale = static_cast<float>(inv * g2[o]);
      for (int c = 0; c < hidden_; ++c)
        wf[static_cast<std::int64_t>(o) * hidden_ + c] =
            scale * w2[static_cast<std::int64_t>(o) * hidden_ + c];
      bf[o] = static_cast<float>((b2[o] - mean) * inv * g2[o] + be2[o]);
    }
  }

  // 4. The folded conv2, then GLU, LayerScale and the residual add on tile t: in place, or (with
  //    `out`) into out[c * out_plane + p - p0] with y left as it was.
  void glu(std::int64_t t, const float* wf, const float* bf, float* out = nullptr,
           std::int64_t out_plane = 0) const {
    int row;
    std::int64_t p0, p1;
    range(t, row, p0, p1);
    const float* hr = hid_ + row * W_;
    float* yr = y_.data + row * W_;
    float* dst = out != nullptr ? out : yr;
    const std::int64_t dst_plane = out != nullptr ? out_plane : P_;
    const std::int64_t shift = out != nullptr ? p0 : 0;
    const float* ls = l_.scale.data();
    switch (hidden_) {
      case 6:
        glu_tile<6>(hr, P_, hidden_, C_, wf, bf, ls, p0, p1, yr, dst, dst_plane, shift);
        break;
      case 12:
        glu_tile<12>(hr, P_, hidden_, C_, wf, bf, ls, p0, p1, yr, dst, dst_plane, shift);
        break;
      default:
        glu_tile<0>(hr, P_, hidden_, C_, wf, bf, ls, p0, p1, yr, dst, dst_plane, shift);
        break;
    }
  }

  int row_of(std::int64_t t) const { return static_cast<int>(t / tpr_); }

  // Row and positions of tile t.
  void range(std::int64_t t, int& row, std::int64_t& p0, std::int64_t& p1) const {
    row = static_cast<int>(t / tpr_);
    p0 = (t % tpr_) * kTile;
    p1 = std::min(W_, p0 + kTile);
  }

 private:
  double tile_len(std::int64_t t) const {
    const std::int64_t p0 = (t % tpr_) * kTile;
    return static_cast<double>(std::min(W_, p0 + kTile) - p0);
  }

  const DConvLayerW& l_;
  Act y_;
  float* hid_;
  double* stats_;
  const double* gram_;
  int C_, hidden_;
  std::int64_t W_, P_, tpr_, ts_;
  double* rows_;
};

// Per-worker scratch in Workers::cols: [cov (hidden^2 doubles) | mean_g (hidden doubles) |
// folded conv2 weights (2C x hidden) | folded bias (2C)].
struct WorkerScratch {
  double* cov;
  double* mean_g;
  float* wf;
  float* bf;
  WorkerScratch(const ConvScratch& s, int C, int hidden) {
    const std::int64_t hh = static_cast<std::int64_t>(hidden) * hidden;
    cov = reinterpret_cast<double*>(s.cols);
    mean_g = cov + hh;
    wf = reinterpret_cast<float*>(mean_g + hidden);
    bf = wf + 2LL * C * hidden;
  }
};

// Every layer on row `row` of y, on one worker, while the row is in cache: the row is its
// own GroupNorm item, so no statistics cross rows. `grams` holds layer i's at i * gram_stride.
void run_row(std::span<const DConvLayerW> layers, const Act& y, int row, float* hid, double* stats,
             const double* grams, std::int64_t gram_stride, const ConvScratch& scratch) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSteps s(layers[i], y, hid, stats,
                       grams + static_cast<std::int64_t>(i) * gram_stride);
    const WorkerScratch ws(scratch, y.c, static_cast<int>(layers[i].conv1.b.numel()));
    s.conv1(row);
    s.row_stats1(row);
    s.gelu(row);
    s.row_stats2(row, ws.cov, ws.mean_g);
    s.fold(row, ws.wf, ws.bf);
    s.glu(row, ws.wf, ws.bf);
  }
}

// Where a sink's tile starts in the worker scratch: after the layer scratch, on a cache line.
std::int64_t sink_tile_offset(int channels, int hidden) {
  return (dconv_worker_floats(channels, hidden) + 15) / 16 * 16;
}

std::int64_t max_hidden_of(std::span<const DConvLayerW> layers) {
  std::int64_t max_hidden = 0;
  for (const auto& l : layers) max_hidden = std::max<std::int64_t>(max_hidden, l.conv1.b.numel());
  return max_hidden;
}

}  // namespace

std::int64_t dconv_stats_doubles(int /*channels*/, int hidden, int h, std::int64_t w, int layers) {
  const std::int64_t hh = static_cast<std::int64_t>(hidden) * hidden;
  return h * tiles_per_row(w) * tile_stride(hidden) + 4LL * h + std::max(layers, 1) * hh + hh +
         hidden;
}

std::int64_t dconv_worker_floats(int channels, int hidden) {
  const std::int64_t hh = static_cast<std::int64_t>(hidden) * hidden;
  return 2 * (hh + hidden) + 2LL * channels * (hidden + 1);
}

std::int64_t dconv_row_max_width() {
  return kTile;
}

std::int64_t dconv_grams_doubles(int hidden, int layers) {
  return static_cast<std::int64_t>(std::max(layers, 1)) * hidden * hidden;
}

std::int64_t dconv_row_stats_doubles(int hidden) {
  return tile_stride(hidden) + 4;
}

void dconv_grams(std::span<const DConvLayerW> layers, double* grams) {
  const std::int64_t stride = max_hidden_of(layers) * max_hidden_of(layers);
  for (std::size_t i = 0; i < layers.size(); ++i)
    compute_gram(layers[i], grams + static_cast<std::int64_t>(i) * stride);
}

void dconv_row(std::span<const DConvLayerW> layers, const Act& row, float* hid, double* stats,
               const double* grams, const ConvScratch& scratch) {
  if (row.h != 1 || row.w > kTile) throw std::logic_error("htdemucs: dconv_row on a long row");
  const std::int64_t hidden = max_hidden_of(layers);
  run_row(layers, row, 0, hid, stats, grams, hidden * hidden, scratch);
}

std::int64_t dconv_sink_floats(int channels, int hidden) {
  return sink_tile_offset(channels, hidden) + static_cast<std::int64_t>(channels) * kTile;
}

void dconv_layers(std::span<const DConvLayerW> layers, const Act& y, float* hid, double* stats,
                  Workers& workers, DConvTileSink* sink) {
  if (layers.empty()) return;
  const int C = y.c;
  const int H = y.h;
  if (workers.cols.empty() || workers.cols.size() < static_cast<std::size_t>(workers.size()))
    throw std::logic_error("htdemucs: DConv worker scratch missing");
  for (const auto& l : layers) {
    const int hidden = static_cast<int>(l.conv1.b.numel());
    if (static_cast<std::int64_t>(workers.cols.front().capacity) < dconv_worker_floats(C, hidden))
      throw std::logic_error("htdemucs: DConv worker scratch too small");
  }
  const std::int64_t tpr = tiles_per_row(y.w);
  // Every layer's W2^T W2 after the row statistics, then the current row's co-moments.
  const std::int64_t max_hidden = max_hidden_of(layers);
  const std::int64_t max_hh = max_hidden * max_hidden;
  const std::int64_t tiles = H * tpr;
  double* grams = stats + tiles * tile_stride(static_cast<int>(max_hidden)) + 4LL * H;
  double* shared_cov = grams + static_cast<std::int64_t>(layers.size()) * max_hh;
  double* shared_mean_g = shared_cov + max_hh;
  dconv_grams(layers, grams);

  if (sink != nullptr && (tpr == 1 && H > 1))
    throw std::logic_error("htdemucs: a DConv tile sink needs the tile path (long rows)");
  if (sink != nullptr) {
    const std::int64_t need = dconv_sink_floats(C, static_cast<int>(max_hidden));
    if (static_cast<std::int64_t>(workers.cols.front().capacity) < need)
      throw std::logic_error("htdemucs: DConv worker scratch too small for the tile sink");
  }
  if (tpr == 1 && H > 1) {
    // Rows shorter than a tile (the frequency branch): every layer of a row runs on one worker
    // while the row (C x W floats) stays in cache, instead of one pass per step over the whole
    // block through memory. Rows are independent items, so no statistics cross workers.
    workers.run(H, 1, [&](std::int64_t r0, std::int64_t r1, int worker) {
      for (std::int64_t r = r0; r < r1; ++r)
        run_row(layers, y, static_cast<int>(r), hid, stats, grams, max_hh, workers.cols[worker]);
    });
    return;
  }

  // Long rows (the time branch): each step over all tiles, split across the workers, with the
  // per-tile partial sums reduced in tile order on this thread.
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSteps s(layers[i], y, hid, stats, grams + static_cast<std::int64_t>(i) * max_hh);
    workers.run(tiles, 1, [&](std::int64_t t0, std::int64_t t1, int) {
      for (std::int64_t t = t0; t < t1; ++t) s.conv1(t);
    });
    for (int r = 0; r < H; ++r) s.row_stats1(r);
    workers.run(tiles, 1, [&](std::int64_t t0, std::int64_t t1, int) {
      for (std::int64_t t = t0; t < t1; ++t) s.gelu(t);
    });
    for (int r = 0; r < H; ++r) s.row_stats2(r, shared_cov, shared_mean_g);
    // The last layer's tiles go to the sink, if any, straight from the worker's cache.
    DConvTileSink* last_sink = i + 1 == layers.size() ? sink : nullptr;
    workers.run(tiles, 1, [&](std::int64_t t0, std::int64_t t1, int worker) {
      const WorkerScratch ws(workers.cols[worker], C, static_cast<int>(layers[i].conv1.b.numel()));
      float* tile = workers.cols[worker].cols + sink_tile_offset(C, static_cast<int>(max_hidden));
      int folded_row = -1;
      for (std::int64_t t = t0; t < t1; ++t) {
        if (s.row_of(t) != folded_row) {
          folded_row = s.row_of(t);
          s.fold(folded_row, ws.wf, ws.bf);
        }
        if (last_sink == nullptr) {
          s.glu(t, ws.wf, ws.bf);
          continue;
        }
        int row;
        std::int64_t p0, p1;
        s.range(t, row, p0, p1);
        s.glu(t, ws.wf, ws.bf, tile, kTile);
        last_sink->consume(tile, kTile, row, p0, p1, worker);
      }
    });
  }
}

void dconv_layer(const DConvLayerW& l, const Act& y, float* hid, double* stats, Workers& workers) {
  dconv_layers({&l, 1}, y, hid, stats, workers);
}

}  // namespace earshot::htdemucs
