#include "models/htdemucs/pointwise_glu.hpp"

#include "models/htdemucs/direct_conv.hpp"

#include <array>

namespace earshot::htdemucs {
namespace {

// Up to this many input channels (every encoder rewrite of the full model: K = 48..384) the
// fused kernel beat the GEMM path, measured at 1 thread: K = 48 17.5 -> 10.6 ms (tenc0),
// K = 96 12.7 -> 8.2 ms (tenc1), K = 192 / 384 about 25% faster. The input tile of the largest
// K (96 KiB) no longer fits L1 but streams from L2 once per output group.
constexpr int kMaxInputs = 384;

}  // namespace

bool pointwise_glu_supported(int K) {
#if defined(__AVX512F__)
  return K >= 1 && K <= kMaxInputs;
#else
  (void)K;
  return false;  // the GEMM path is used
#endif
}

void pointwise_glu(const float* in, std::int64_t plane, int K, int C, const float* w,
                   const float* b, std::int64_t p0, std::int64_t p1, float* out,
                   std::int64_t out_plane) {
  // A 1x1 conv is conv_glu_rows over the K input rows in place, one shift class (0), taps in
  // channel order.
  std::array<const float*, kMaxInputs> rows{};
  std::array<int, kMaxInputs> taps{};
  std::array<unsigned char, kMaxInputs> cls{};
  for (int k = 0; k < K; ++k) {
    rows[k] = in + k * plane;
    taps[k] = k;
  }
  conv_glu_rows(rows.data(), taps.data(), cls.data(), K, w, K, b, C, p0, p1, p1, 1, 0, out,
                out_plane);
}

}  // namespace earshot::htdemucs
