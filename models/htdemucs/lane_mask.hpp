// AVX-512 lane masks for the kernels' partial vectors: which of a vector's 16 float lanes hold
// positions inside a range (tile tails, row ends read as zero).
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace earshot::htdemucs {

// Lanes [lo, hi) of 16 (empty when hi <= lo; clamped to 0..16).
inline __mmask16 lane_mask(std::int64_t lo, std::int64_t hi) {
  lo = std::max<std::int64_t>(lo, 0);
  hi = std::min<std::int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// The first `left` lanes.
inline __mmask16 lane_mask(std::int64_t left) {
  return lane_mask(0, left);
}

}  // namespace earshot::htdemucs
#endif
