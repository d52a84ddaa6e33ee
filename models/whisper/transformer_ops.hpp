// The few operations Whisper's transformer blocks are made of, on row-major F32 buffers.
// No allocation: every buffer is passed in (reserved by the encoder/decoder at construction).
#pragma once

#include "models/core/gemm.hpp"
#include "models/whisper/parallel.hpp"
#include "models/whisper/whisper_weights.hpp"

namespace earshot::models::whisper {

// out[n, d] = (x - mean) / sqrt(var + 1e-5) * gamma + beta, per row (biased variance).
void layer_norm(const float* x, int n, int d, const LayerNormWeight& norm, float* out,
                Parallel* parallel = nullptr);

// x = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU Whisper uses (not the tanh approximation).
// Rows of `width` are split between workers.
void gelu_inplace(float* x, int rows, int width, Parallel* parallel = nullptr);

// x[n, d] += y[n, d]
void add_inplace(float* x, const float* y, std::size_t count);

// Floats of score scratch one worker of multi_head_attention needs: a block of up to 128
// query rows' scores, plus K packed once per head when there are many queries.
std::size_t attention_scratch_floats(int n_query, int n_key, int head_dim);

// Multi-head scaled dot-product attention for `n_query` rows.
//   q: [n_query, ld] (head h in columns h*head_dim ...), k, v: [n_key, ld]
//   out: [n_query, ld]; scores: scratch of parallel_size(parallel) *
//   attention_scratch_floats(n_query, n_key, head_dim) floats.
// Heads are split between workers. `gemm`: one workspace per worker (see linear()).
// When causal_offset >= 0, query i only sees keys 0 .. causal_offset + i (decoder
// self-attention over a cache that already holds causal_offset earlier tokens).
void multi_head_attention(const float* q, int n_query, const float* k, const float* v, int n_key,
                          int ld, int heads, int head_dim, int causal_offset, float* scores,
                          float* out, Parallel* parallel = nullptr, GemmWorkspace* gemm = nullptr);

}  // namespace earshot::models::whisper
