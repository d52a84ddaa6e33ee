#include "models/htdemucs/freq_encoder_rows.hpp"

#include "models/htdemucs/dconv.hpp"
#include "models/htdemucs/direct_conv.hpp"
#include "models/htdemucs/pointwise_glu.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

// The direct conv (direct_conv.hpp) sums up to kMaxConvRows rows, which covers the full
// model's deepest frequency level (192 channels x 8 taps = 1536). Measured at 1 thread against
// the unfused level (im2col + GEMM, then DConv, then the rewrite, each through memory): enc0
// 66 -> 50-56 ms, enc1 85 -> 78 ms, enc2 82 -> 74 ms, enc3 unchanged.

std::int64_t round_up16(std::int64_t n) {
  return (n + 15) / 16 * 16;
}

int hidden_of(const EncoderW& w) {
  return w.dconv.empty() ? 0 : static_cast<int>(w.dconv.front().conv1.b.numel());
}

#if defined(__AVX512F__)

// Output row f of the encoder conv into out ([C][W]): the taps whose input row lies inside
// [0, H_in) (rows outside read as zero, so they are simply left out of the sum).
void conv_row(const EncoderW& w, const FreqRowsGeom& g, const Act& in, int C, int f, float* out) {
  const std::int64_t W = in.w;
  std::array<const float*, kMaxConvRows> rows{};
  std::array<int, kMaxConvRows> taps{};
  int n = 0;
  for (int ci = 0; ci < in.c; ++ci)
    for (int k = 0; k < g.kh; ++k) {
      const int r = f * g.sh + k - g.ph;
      if (r < 0 || r >= in.h) continue;
      rows[n] = in.data + ci * in.plane() + r * W;
      taps[n] = ci * g.kh + k;
      ++n;
    }
  conv_rows(rows.data(), taps.data(), n, w.conv.w.data(), in.c * g.kh, w.conv.b.data(), C, W, out,
            W);
}

#endif

}  // namespace

bool freq_rows_supported(const EncoderW& w, const FreqRowsGeom& g, const Act& in, const Act& out) {
#if defined(__AVX512F__)
  const bool pointwise_rewrite = w.rewrite.w.numel() == 2LL * out.c * out.c;
  return !w.norm1.present() && !w.norm2.present() && pointwise_rewrite &&
         pointwise_glu_supported(out.c) && in.c * g.kh <= kMaxConvRows && in.w == out.w &&
         out.w <= dconv_row_max_width() && !w.conv.b.empty() && !w.rewrite.b.empty();
#else
  (void)w, (void)g, (void)in, (void)out;
  return false;
#endif
}

std::int64_t freq_rows_worker_floats(int channels, int hidden, std::int64_t w) {
  return round_up16(dconv_worker_floats(channels, hidden)) + round_up16(channels * w) +
         round_up16(hidden * w);
}

std::int64_t freq_rows_shared_doubles(int hidden, int layers, int workers) {
  return dconv_grams_doubles(hidden, layers) + workers * dconv_row_stats_doubles(hidden);
}

void encode_freq_rows(const EncoderW& w, const FreqRowsGeom& g, const Act& in, const Act& out,
                      double* shared, Workers& workers) {
#if defined(__AVX512F__)
  const int C = out.c;
  const int hidden = hidden_of(w);
  const std::int64_t W = out.w;
  const std::int64_t need = freq_rows_worker_floats(C, hidden, W);
  for (const auto& s : workers.cols)
    if (static_cast<std::int64_t>(s.capacity) < need)
      throw std::logic_error("htdemucs: fused frequency encoder scratch too small");
  if (!w.dconv.empty()) dconv_grams(w.dconv, shared);
  double* worker_stats = shared + dconv_grams_doubles(hidden, static_cast<int>(w.dconv.size()));
  workers.run(out.h, 1, [&](std::int64_t f0, std::int64_t f1, int worker) {
    float* base = workers.cols[worker].cols;
    const std::int64_t dconv_floats = round_up16(dconv_worker_floats(C, hidden));
    const ConvScratch dconv_scratch{base, static_cast<std::size_t>(dconv_floats)};
    float* row = base + dconv_floats;
    float* hid = row + round_up16(C * W);
    double* stats = worker_stats + worker * dconv_row_stats_doubles(hidden);
    for (std::int64_t f = f0; f < f1; ++f) {
      conv_row(w, g, in, C, static_cast<int>(f), row);
      gelu_inplace(row, C * W);
      if (!w.dconv.empty())
        dconv_row(w.dconv, Act{row, C, 1, W}, hid, stats, shared, dconv_scratch);
      pointwise_glu(row, W, C, C, w.rewrite.w.data(), w.rewrite.b.data(), 0, W, out.data + f * W,
                    out.plane());
    }
  });
#else
  (void)w, (void)g, (void)in, (void)out, (void)shared, (void)workers;
  throw std::logic_error("htdemucs: fused frequency encoder needs AVX-512");
#endif
}

}  // namespace earshot::htdemucs
