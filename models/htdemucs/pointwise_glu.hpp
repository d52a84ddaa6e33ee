#pragma once

#include <cstdint>

namespace earshot::htdemucs {

// A 1x1 convolution with few input channels followed by GLU, fused: out[c][p] = a / (1 +
// exp(-g)) with a = w[c] . in[:, p] + b[c] and g = w[c + C] . in[:, p] + b[c + C], for the
// positions [p0, p1) of planes of `plane` floats. in: [K][plane], w: torch's [2C, K], out:
// [C][out_plane] (out_plane defaults to plane). At the encoders' rewrite sizes (K = 48..384, K
// small next to the positions) a GEMM spends much on packing and on writing and re-reading its 2C
// output rows; here a tile of positions is read once into L1 and the 2C sums of each position live
// only in registers, so only the C GLU outputs are ever written. Each position's sums run over k in
// order from the bias, so the result does not depend on how positions are split among workers.
bool pointwise_glu_supported(int K);
void pointwise_glu(const float* in, std::int64_t plane, int K, int C, const float* w,
                   const float* b, std::int64_t p0, std::int64_t p1, float* out,
                   std::int64_t out_plane);
inline void pointwise_glu(const float* in, std::int64_t plane, int K, int C, const float* w,
                          const float* b, std::int64_t p0, std::int64_t p1, float* out) {
  pointwise_glu(in, plane, K, C, w, b, p0, p1, out, plane);
}

}  // namespace earshot::htdemucs
