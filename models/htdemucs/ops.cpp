#include "models/htdemucs/ops.hpp"

#include "models/htdemucs/direct_conv.hpp"
#include "models/htdemucs/pointwise_glu.hpp"

// Eigen 3.3's AVX-512 packet code trips GCC 12's -Wmaybe-uninitialized inside the compiler's
// own intrinsics headers; the warning is about those headers, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

// How many output columns one im2col block holds: about kColumnBlockFloats floats (cache-sized,
// so the GEMM reads the block back from cache), at least 256 columns for an efficient GEMM,
// and never more than the scratch holds.
#ifndef EARSHOT_HTD_COLUMN_BLOCK_FLOATS
#define EARSHOT_HTD_COLUMN_BLOCK_FLOATS \
  (1 << 16)  // 256 KiB: the block stays in L2 from im2col through Eigen's packing (4 MiB
             // blocks measured: the outer decoders at 53-66% of the sgemm peak instead of 67-83%)
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

std::int64_t conv_scratch_floats(std::int64_t max_k, std::int64_t max_n) {
  return std::min(max_k * max_n, std::max<std::int64_t>(max_k * 256, kColumnBlockFloats));
}

void Workers::run(std::int64_t n, int align,
                  rt::FunctionRef<void(std::int64_t, std::int64_t, int)> fn, bool balance) {
  const int w = size();
  if (static_cast<int>(gemm.size()) < w || static_cast<int>(cols.size()) < w)
    throw std::logic_error("htdemucs: fewer worker scratch buffers than workers");
  if (n <= 0) return;
  if (w <= 1 || n <= align) {
    GemmWorkspace::Scope scope(*gemm[0]);
    fn(0, n, 0);
    return;
  }
  if (!balance) {
    rt::parallel_for(parallel, static_cast<int>(n), align, [&](int begin, int end, int share) {
      GemmWorkspace::Scope scope(*gemm[share]);
      fn(begin, end, share);
    });
    return;
  }
  // Chunks claimed in order by whichever worker is free, so a worker that starts late or runs
  // slower (another process on its core) takes fewer instead of the others waiting for its
  // fixed share. The chunks shrink as the work runs out (each a 1/(2 x workers) share of what
  // is left, down to 1/(16 x workers) of the whole), so the workers also finish close
  // together. The chunk boundaries depend only on n and the worker count, and no kernel's
  // result for an element depends on the chunk it was computed in.
  const std::int64_t blocks = (n + align - 1) / align;
  const std::int64_t min_chunk = std::max<std::int64_t>(1, blocks / (16 * w));
  auto chunk_after = [&](std::int64_t begin) {  // blocks in the chunk starting at block `begin`
    const std::int64_t left = blocks - begin;
    return std::min(left, std::max(min_chunk, (left + 2 * w - 1) / (2 * w)));
  };
  std::atomic<std::int64_t> next{0};  // index of the next unclaimed chunk
  rt::parallel_for(parallel, w, 1, [&](int, int, int share) {
    GemmWorkspace::Scope scope(*gemm[share]);
    std::int64_t index = 0, begin = 0;  // this worker's walk along the fixed chunk sequence
    for (std::int64_t c = next.fetch_add(1, std::memory_order_relaxed);;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      while (index < c && begin < blocks) {
        begin += chunk_after(begin);
        ++index;
      }
      if (begin >= blocks) return;
      const std::int64_t end = begin + chunk_after(begin);
      fn(begin * align, std::min(n, end * align), share);
    }
  });
}

namespace {

#if defined(__AVX512F__)
// src[0], src[4], ..., src[60]: reads src[0..64).
__m512 gather_stride4(const float* src) {
  const __m512i pick = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  const __m512i join = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(src), pick, _mm512_loadu_ps(src + 16));
  const __m512 hi =
      _mm512_permutex2var_ps(_mm512_loadu_ps(src + 32), pick, _mm512_loadu_ps(src + 48));
  return _mm512_permutex2var_ps(lo, join, hi);
}
#endif

// im2col of output columns [n0, n0 + cnt) into `cols` (row (ci, i, j), column n - n0), one
// output row segment at a time so that unit-stride rows are plain copies.
void im2col(const ConvGeom& g, const Act& in, const Act& out, std::int64_t n0, std::int64_t cnt,
            float* cols) {
  for (int ci = 0; ci < in.c; ++ci) {
    const float* src = in.data + static_cast<std::int64_t>(ci) * in.plane();
    for (int i = 0; i < g.kh; ++i) {
      for (int j = 0; j < g.kw; ++j) {
        float* row = cols + ((static_cast<std::int64_t>(ci) * g.kh + i) * g.kw + j) * cnt;
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
            std::int64_t ow = ow0;
#if defined(__AVX512F__)
            if (g.sw == 4) {
              // Outputs whose 16-wide gather stays inside the row: every 4th input float,
              // separated from 64 consecutive ones with permutes.
              for (; ow < ow1 && ow * 4 + shift < 0; ++ow) dst[ow - ow0] = 0.0f;
              for (; ow + 16 <= ow1 && (ow + 16) * 4 + shift <= in.w; ow += 16)
                _mm512_storeu_ps(dst + (ow - ow0), gather_stride4(line + ow * 4 + shift));
            }
#endif
            for (; ow < ow1; ++ow) {
              const std::int64_t iw = ow * g.sw + shift;
              dst[ow - ow0] = (iw >= 0 && iw < in.w) ? line[iw] : 0.0f;
            }
          }
          n += ow1 - ow0;
        }
      }
    }
  }
}

}  // namespace

void conv2d(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
            const Act& out, Workers& workers, bool gelu) {
  const int K = in.c * g.kh * g.kw;
  const std::int64_t N = out.plane();
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 &&
                         g.pw == 0 && in.h == out.h && in.w == out.w;
  // Each worker owns a contiguous range of output columns (positions), all channels. The
  // products accumulate onto the bias (one pass over the output instead of a fill and an add).
  const float beta = bias != nullptr ? 1.0f : 0.0f;
  auto fill_bias = [&](std::int64_t n0, std::int64_t n1) {
    if (bias == nullptr) return;
    for (int co = 0; co < out.c; ++co) {
      float* dst = out.data + static_cast<std::int64_t>(co) * N;
      std::fill(dst + n0, dst + n1, bias[co]);
    }
  };
  // The GELU runs on each block of outputs right after it is computed, while it is in cache.
  auto apply_gelu = [&](std::int64_t n0, std::int64_t n1) {
    if (!gelu) return;
    for (int co = 0; co < out.c; ++co)
      gelu_inplace(out.data + static_cast<std::int64_t>(co) * N + n0, n1 - n0);
  };
  if (time_conv_supported(g, in, out, static_cast<std::int64_t>(workers.cols.front().capacity))) {
    time_conv(weight, bias, g, in, out, workers, gelu);
    return;
  }
  workers.run(N, 64, [&](std::int64_t b, std::int64_t e, int w) {
    if (pointwise) {
      fill_bias(b, e);
      gemm(false, false, out.c, e - b, K, weight, K, in.data + b, N, out.data + b, N, beta);
      apply_gelu(b, e);
      return;
    }
    const ConvScratch& scratch = workers.cols[w];
    const std::int64_t nb = column_block(scratch.capacity, K, e - b);
    for (std::int64_t n0 = b; n0 < e; n0 += nb) {
      const std::int64_t cnt = std::min(nb, e - n0);
      im2col(g, in, out, n0, cnt, scratch.cols);
      fill_bias(n0, n0 + cnt);
      gemm(false, false, out.c, cnt, K, weight, K, scratch.cols, cnt, out.data + n0, N, beta);
      apply_gelu(n0, n0 + cnt);
    }
  });
}

void conv2d_glu(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
                const Act& out, Workers& workers) {
  const int C = out.c, C2 = 2 * out.c;
  const int K = in.c * g.kh * g.kw;
  const std::int64_t N = out.plane();
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 &&
                         g.pw == 0 && in.h == out.h && in.w == out.w;
  if (!pointwise && same_conv_glu_supported(g, in, out)) {
    same_conv_glu(weight, bias, g, in, out, workers);
    return;
  }
  if (pointwise && pointwise_glu_supported(K)) {
    workers.run(N, 64, [&](std::int64_t b, std::int64_t e, int) {
      pointwise_glu(in.data, N, K, C, weight, bias, b, e, out.data);
    });
    return;
  }
  workers.run(N, 64, [&](std::int64_t b, std::int64_t e, int w) {
    const ConvScratch& scratch = workers.cols[w];
    // One column block: its im2col columns (K x cnt, none for a pointwise conv) and its 2C
    // conv outputs (2C x cnt) side by side in the worker's scratch, both cache-resident.
    const std::int64_t per_col = (pointwise ? 0 : K) + C2;
    const std::int64_t nb = column_block(scratch.capacity, per_col, e - b);
    for (std::int64_t n0 = b; n0 < e; n0 += nb) {
      const std::int64_t cnt = std::min(nb, e - n0);
      float* z = scratch.cols + (pointwise ? 0 : K * cnt);
      if (!pointwise) im2col(g, in, out, n0, cnt, scratch.cols);
      for (int co = 0; co < C2; ++co)
        std::fill(z + co * cnt, z + (co + 1) * cnt, bias != nullptr ? bias[co] : 0.0f);
      gemm(false, false, C2, cnt, K, weight, K, pointwise ? in.data + n0 : scratch.cols,
           pointwise ? N : cnt, z, cnt, 1.0f);
      for (int c = 0; c < C; ++c)
        glu_pass(z + c * cnt, z + (c + C) * cnt, cnt, out.data + c * N + n0);
    }
  });
}

#if defined(__AVX512F__)
// The time branch's transposed convs (kernel 8, stride 4, one row): output ow = 4 iw + j - crop
// receives cols[j][iw]. Taps j = 0..3 hit four different outputs of every 4-output group, as
// do taps 4..7 one group later, so each half is one contiguous add of four interleaved rows.
// Every output gets its taps added in the same order as the element-by-element scatter.
bool col2im_stride4_supported(int kh, int kw, int sw, const Act& in, const Act& out) {
  return kh == 1 && kw == 8 && sw == 4 && in.h == 1 && out.h == 1;
}

// dst[4 i + r] += v_r[i] for i < 16, r < 4 (64 consecutive floats).
void add_interleaved4(float* dst, __m512 v0, __m512 v1, __m512 v2, __m512 v3) {
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512d ab_lo = _mm512_castps_pd(_mm512_permutex2var_ps(v0, lo, v1));
  const __m512d ab_hi = _mm512_castps_pd(_mm512_permutex2var_ps(v0, hi, v1));
  const __m512d cd_lo = _mm512_castps_pd(_mm512_permutex2var_ps(v2, lo, v3));
  const __m512d cd_hi = _mm512_castps_pd(_mm512_permutex2var_ps(v2, hi, v3));
  const __m512i q0 = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i q1 = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  const __m512 o[4] = {_mm512_castpd_ps(_mm512_permutex2var_pd(ab_lo, q0, cd_lo)),
                       _mm512_castpd_ps(_mm512_permutex2var_pd(ab_lo, q1, cd_lo)),
                       _mm512_castpd_ps(_mm512_permutex2var_pd(ab_hi, q0, cd_hi)),
                       _mm512_castpd_ps(_mm512_permutex2var_pd(ab_hi, q1, cd_hi))};
  for (int k = 0; k < 4; ++k)
    _mm512_storeu_ps(dst + 16 * k, _mm512_add_ps(_mm512_loadu_ps(dst + 16 * k), o[k]));
}

// cols: 8 rows (taps) of cnt columns for inputs [n0, n0 + cnt); line: one output row of width w.
void col2im_stride4(const float* cols, std::int64_t cnt, std::int64_t n0, int crop, float* line,
                    std::int64_t w) {
  for (int half = 0; half < 2; ++half) {
    const float* r0 = cols + (4 * half) * cnt;
    const std::int64_t shift = 4 * half - crop;  // output of tap 4 half at input iw: 4 iw + shift
    std::int64_t k = 0;
    auto scalar = [&](std::int64_t kk) {
      for (int r = 0; r < 4; ++r) {
        const std::int64_t ow = 4 * (n0 + kk) + shift + r;
        if (ow >= 0 && ow < w) line[ow] += r0[r * cnt + kk];
      }
    };
    for (; k < cnt && 4 * (n0 + k) + shift < 0; ++k) scalar(k);
    for (; k + 16 <= cnt && 4 * (n0 + k + 16) + shift <= w; k += 16)
      add_interleaved4(line + 4 * (n0 + k) + shift, _mm512_loadu_ps(r0 + k),
                       _mm512_loadu_ps(r0 + cnt + k), _mm512_loadu_ps(r0 + 2 * cnt + k),
                       _mm512_loadu_ps(r0 + 3 * cnt + k));
    for (; k < cnt; ++k) scalar(k);
  }
}
#endif

void conv_transpose2d(const float* weight, const float* bias, int kh, int kw, int sh, int sw,
                      int crop_h, int crop_w, const Act& in, const Act& out, Workers& workers) {
  const int cin = in.c;
  const int M = out.c * kh * kw;
  const std::int64_t N = in.plane();
  const std::int64_t OP = out.plane();
  // Each worker owns a range of output channels: its GEMM rows and its col2im targets are
  // disjoint from every other worker's.
  workers.run(out.c, 1, [&](std::int64_t c0, std::int64_t c1, int w) {
    for (std::int64_t co = c0; co < c1; ++co) {
      float* dst = out.data + co * OP;
      std::fill(dst, dst + OP, bias != nullptr ? bias[co] : 0.0f);
    }
    const int rows = static_cast<int>(c1 - c0) * kh * kw;
    const ConvScratch& scratch = workers.cols[w];
    const std::int64_t nb = column_block(scratch.capacity, rows, N);
    for (std::int64_t n0 = 0; n0 < N; n0 += nb) {
      const std::int64_t cnt = std::min(nb, N - n0);
      // cols[(co, i, j), n] = sum_ci W[ci, (co, i, j)] * in[ci, n]
      gemm(true, false, rows, cnt, cin, weight + c0 * kh * kw, M, in.data + n0, N, scratch.cols,
           cnt, 0.0f);
#if defined(__AVX512F__)
      if (col2im_stride4_supported(kh, kw, sw, in, out)) {
        for (std::int64_t co = c0; co < c1; ++co)
          col2im_stride4(scratch.cols + (co - c0) * 8 * cnt, cnt, n0, crop_w, out.data + co * OP,
                         out.w);
        continue;
      }
#endif
      // col2im: scatter-add into the cropped output, one input row segment at a time.
      for (std::int64_t co = c0; co < c1; ++co) {
        float* dst = out.data + co * OP;
        for (int i = 0; i < kh; ++i) {
          for (int j = 0; j < kw; ++j) {
            const float* row = scratch.cols + (((co - c0) * kh + i) * kw + j) * cnt;
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
  });
}

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;

// The affine part of GroupNorm on n floats, optionally followed by the exact GELU.
void scale_shift(float* x, std::int64_t n, float scale, float shift, bool gelu) {
  Eigen::Map<Eigen::ArrayXf> a(x, n);
  a = a * scale + shift;
  if (gelu) a = 0.5f * a * (1.0f + (a * kInvSqrt2).erf());
}

constexpr int kMaxGroupChannels = 2048;  // channels per group (HTDemucs: at most 384)

}  // namespace

void group_norm(const Act& x, int groups, const float* gamma, const float* beta, float eps,
                bool per_row, Workers& workers, bool gelu) {
  using Arr = Eigen::Map<Eigen::ArrayXf>;
  const int cpg = x.c / groups;
  const int rows = per_row ? x.h : 1;
  const std::int64_t row_len = per_row ? x.w : x.plane();
  const std::int64_t P = x.plane();
  const double count = static_cast<double>(cpg) * static_cast<double>(row_len);
  // Two passes (mean, then squared deviations), vectorised within each channel's segment and
  // summed across channels in double.
  auto channel_sum = [&](std::int64_t off, std::int64_t c0, std::int64_t c1) {
    double s = 0.0;
    for (std::int64_t c = c0; c < c1; ++c) s += Arr(x.data + c * P + off, row_len).sum();
    return s;
  };
  auto channel_dev = [&](std::int64_t off, std::int64_t c0, std::int64_t c1, float mean) {
    double s = 0.0;
    for (std::int64_t c = c0; c < c1; ++c)
      s += (Arr(x.data + c * P + off, row_len) - mean).square().sum();
    return s;
  };
  auto normalise = [&](std::int64_t off, std::int64_t c0, std::int64_t c1, double mean,
                       double inv) {
    for (std::int64_t c = c0; c < c1; ++c) {
      const auto scale = static_cast<float>(inv * gamma[c]);
      const auto shift = static_cast<float>(beta[c] - mean * inv * gamma[c]);
      scale_shift(x.data + c * P + off, row_len, scale, shift, gelu);
    }
  };
  const std::int64_t tasks = static_cast<std::int64_t>(rows) * groups;
  if (tasks >= 2 * workers.size()) {
    // Many independent (row, group) statistics: whole tasks per worker.
    workers.run(tasks, 1, [&](std::int64_t t0, std::int64_t t1, int) {
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t off = per_row ? (t / groups) * x.w : 0;
        const std::int64_t c0 = (t % groups) * cpg, c1 = c0 + cpg;
        const double mean = channel_sum(off, c0, c1) / count;
        const double var = channel_dev(off, c0, c1, static_cast<float>(mean)) / count;
        normalise(off, c0, c1, mean, 1.0 / std::sqrt(var + eps));  // biased, as torch
      }
    });
    return;
  }
  // Few statistics over large tensors: the workers share each one's channels. Per-channel
  // partial sums, added in channel order: the result does not depend on the split.
  if (cpg > kMaxGroupChannels)
    throw std::logic_error("htdemucs: GroupNorm with too many channels per group");
  for (std::int64_t t = 0; t < tasks; ++t) {
    const std::int64_t off = per_row ? (t / groups) * x.w : 0;
    const std::int64_t base = (t % groups) * cpg;
    double part[kMaxGroupChannels];
    workers.run(cpg, 1, [&](std::int64_t c0, std::int64_t c1, int) {
      for (std::int64_t c = c0; c < c1; ++c) part[c] = channel_sum(off, base + c, base + c + 1);
    });
    double sum = 0.0;
    for (int c = 0; c < cpg; ++c) sum += part[c];
    const double mean = sum / count;
    workers.run(cpg, 1, [&](std::int64_t c0, std::int64_t c1, int) {
      for (std::int64_t c = c0; c < c1; ++c)
        part[c] = channel_dev(off, base + c, base + c + 1, static_cast<float>(mean));
    });
    double var = 0.0;
    for (int c = 0; c < cpg; ++c) var += part[c];
    const double inv = 1.0 / std::sqrt(var / count + eps);
    workers.run(cpg, 1, [&](std::int64_t c0, std::int64_t c1, int) {
      normalise(off, base + c0, base + c1, mean, inv);
    });
  }
}

void gelu_inplace(float* x, std::int64_t n) {
  // Exact (erf) GELU with Eigen's vectorised float erf.
  Eigen::Map<Eigen::ArrayXf> a(x, n);
  a = 0.5f * a * (1.0f + (a * kInvSqrt2).erf());
}

void gelu_inplace(float* x, std::int64_t n, Workers& workers) {
  workers.run(n, 1024, [&](std::int64_t b, std::int64_t e, int) { gelu_inplace(x + b, e - b); });
}

void glu_pass(const float* a, const float* gate, std::int64_t n, float* out) {
  Eigen::Map<const Eigen::ArrayXf> av(a, n), gv(gate, n);
  Eigen::Map<Eigen::ArrayXf>(out, n) = av / (1.0f + (-gv).exp());
}

void glu_channels(const Act& in, const Act& out, Workers& workers) {
  const std::int64_t half = static_cast<std::int64_t>(out.c) * out.plane();
  workers.run(half, 1024, [&](std::int64_t b, std::int64_t e, int) {
    glu_pass(in.data + b, in.data + half + b, e - b, out.data + b);
  });
}

void glu_scaled_add(const Act& z, const float* scale, const Act& y, Workers& workers) {
  const std::int64_t P = y.plane();
  workers.run(y.c, 1, [&](std::int64_t c0, std::int64_t c1, int) {
    for (std::int64_t ch = c0; ch < c1; ++ch) {
      Eigen::Map<const Eigen::ArrayXf> av(z.data + ch * P, P), gv(z.data + (ch + y.c) * P, P);
      Eigen::Map<Eigen::ArrayXf> d(y.data + ch * P, P);
      d += scale[ch] * (av / (1.0f + (-gv).exp()));
    }
  });
}

void layer_norm_rows(const float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                     float eps, float* y) {
  // Vectorised float passes over each row (a row is at most a few thousand floats: float
  // sums lose nothing the tolerance could see), statistics kept in double.
  using CArr = Eigen::Map<const Eigen::ArrayXf>;
  const CArr g(gamma, d), b(beta, d);
  for (std::int64_t r = 0; r < n; ++r) {
    const CArr p(x + r * d, d);
    const double mean = static_cast<double>(p.sum()) / d;
    const auto m = static_cast<float>(mean);
    const double var = static_cast<double>((p - m).square().sum()) / d;
    const auto inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    Eigen::Map<Eigen::ArrayXf>(y + r * d, d) = (p - m) * inv * g + b;
  }
}

void layer_norm_rows(const float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                     float eps, float* y, Workers& workers) {
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    layer_norm_rows(x + r0 * d, r1 - r0, d, gamma, beta, eps, y + r0 * d);
  });
}

}  // namespace earshot::htdemucs
