// Attention kernels for decoding: a few query rows against one head's keys and values.
//
// The cross-attention K/V of a window are read once per token and are the largest stream
// after the logits, so the decoder stores them head by head (each head one contiguous run):
//   K of a head: panels of 16 keys, [panel][head_dim][16] (zero past the last key), so 16
//                scores come out of head_dim broadcast-FMAs with no horizontal sums;
//   V of a head: [key][head_dim].
// The same kernel serves one token and many (teacher forcing, prompts): queries are taken
// four at a time, so a head's K/V (768 KB for 1500 positions x 64) are read once per group.
#pragma once

#include <cstddef>
#include <cstdint>

namespace earshot::models::whisper {

inline constexpr int kCrossKeyPanel = 16;

// Values one head's packed K takes for up to `n_key` keys.
inline std::size_t packed_k_floats(int n_key, int head_dim) {
  return static_cast<std::size_t>((n_key + kCrossKeyPanel - 1) / kCrossKeyPanel) * kCrossKeyPanel *
         static_cast<std::size_t>(head_dim);
}
// Floats of score scratch one attend_packed_head() call needs.
inline std::size_t packed_scores_floats(int n_key) {
  return 4 * static_cast<std::size_t>((n_key + kCrossKeyPanel - 1) / kCrossKeyPanel) *
         kCrossKeyPanel;
}

// Packs head `head`'s columns of k [n_key, ld] into the panel layout above.
void pack_head_keys(const float* k, int n_key, int ld, int head, int head_dim, float* packed);
// Copies head `head`'s columns of v [n_key, ld] into a contiguous [n_key, head_dim].
void copy_head_values(const float* v, int n_key, int ld, int head, int head_dim, float* out);

// The same into F16 storage (round to nearest even): half the bytes per token to read.
void pack_head_keys(const float* k, int n_key, int ld, int head, int head_dim,
                    std::uint16_t* packed);
void copy_head_values(const float* v, int n_key, int ld, int head, int head_dim,
                      std::uint16_t* out);

// out[i, 0:head_dim] = softmax(scale * q[i] . K^T) V for i < n_query, over one head's packed K
// and contiguous V. q rows have stride ldq, out rows stride ldo (both point at the head's
// first column). `scores`: packed_scores_floats(n_key) floats.
void attend_packed_head(const float* q, int n_query, int ldq, const float* k_packed,
                        const float* v_head, int n_key, int head_dim, float scale, float* scores,
                        float* out, int ldo);
// Over F16-stored K/V (widened in registers; compute stays F32).
void attend_packed_head(const float* q, int n_query, int ldq, const std::uint16_t* k_packed,
                        const std::uint16_t* v_head, int n_key, int head_dim, float scale,
                        float* scores, float* out, int ldo);

// out[0:head_dim] = softmax(scale * q . K^T) V for one query over keys 0 .. n_key-1 whose rows
// (K and V, head's columns) have stride ld: the decoder's self-attention cache.
// `scores`: n_key floats.
void attend_strided_head(const float* q, const float* k, const float* v, int ld, int n_key,
                         int head_dim, float scale, float* scores, float* out);

}  // namespace earshot::models::whisper
