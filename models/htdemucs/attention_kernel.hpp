// The three steps of one attention head over a block of query rows, as register-tiled kernels.
//
// Why not the GEMM: with a head dimension of 64, Eigen's kernel spends a large share of its time
// packing (K for every query block and head, then the scores and V again), and it reached only
// 64-75% of the sgemm peak on the full-size transformer. These kernels read their operands in
// place: K is laid out transposed ([D][nk], so a head's keys for one channel are contiguous),
// queries and values are read row-major with their natural strides.
//
// Every output element is one sequential sum (over d for the scores, over keys for the context)
// whatever the tiling or the number of rows in the call, so results do not depend on how query
// rows are split across threads.
#pragma once

#include <cstdint>

namespace earshot::htdemucs {

// s[r * lds + j] = sum_d q[r * ldq + d] * kt[d * ldk + j] for r < rows, j < nk, d < hd.
void attention_scores(const float* q, std::int64_t ldq, const float* kt, std::int64_t ldk, int rows,
                      std::int64_t nk, int hd, float* s, std::int64_t lds);

// In place: s[r][j] = exp(s[r][j] - max_j s[r][j]) (the softmax numerators), and
// inv_sum[r] = 1 / sum_j of them.
void softmax_numerators(float* s, std::int64_t lds, int rows, std::int64_t nk, float* inv_sum);

// ctx[r * ldc + c] = inv_sum[r] * sum_j p[r * ldp + j] * v[j * ldv + c] for c < hd: the
// softmax-weighted values (the normalisation applied once per output instead of per score).
void attention_context(const float* p, std::int64_t ldp, const float* v, std::int64_t ldv, int rows,
                       std::int64_t nk, int hd, const float* inv_sum, float* ctx, std::int64_t ldc);

}  // namespace earshot::htdemucs
