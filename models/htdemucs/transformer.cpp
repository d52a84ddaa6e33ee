#include "models/htdemucs/transformer.hpp"

#include "models/htdemucs/attention_kernel.hpp"

#include "models/core/tiled_gemm.hpp"

// Eigen's AVX-512 headers trip GCC 12's -Wmaybe-uninitialized inside the compiler's own headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace earshot::htdemucs {
namespace {

// create_2d_sin_embedding, in torch's float32 arithmetic: half the channels encode the time
// position (sin/cos interleaved), the other half the frequency row. Output token-major.
void sin_embedding_2d(int dim, int fr, int t1, float max_period, float* out) {
  const int half = dim / 2;
  const float step = static_cast<float>(-(std::log(static_cast<double>(max_period)) / half));
  for (int t = 0; t < t1; ++t) {
    for (int f = 0; f < fr; ++f) {
      float* e = out + (static_cast<std::int64_t>(t) * fr + f) * dim;
      for (int i = 0; i < half / 2; ++i) {
        const float div = std::exp(static_cast<float>(2 * i) * step);
        const float aw = static_cast<float>(t) * div;
        const float ah = static_cast<float>(f) * div;
        e[2 * i] = std::sin(aw);
        e[2 * i + 1] = std::cos(aw);
        e[half + 2 * i] = std::sin(ah);
        e[half + 2 * i + 1] = std::cos(ah);
      }
    }
  }
}

// create_sin_embedding: cos for the first half of the channels, sin for the second.
void sin_embedding_1d(int dim, std::int64_t length, float max_period, float* out) {
  const int half = dim / 2;
  for (std::int64_t t = 0; t < length; ++t) {
    float* e = out + t * dim;
    for (int i = 0; i < half; ++i) {
      const float ratio = static_cast<float>(i) / static_cast<float>(half - 1);
      const float phase = static_cast<float>(t) / std::pow(max_period, ratio);
      e[i] = std::cos(phase);
      e[half + i] = std::sin(phase);
    }
  }
}

// [D][n] channel-major <-> [n][D] token-major. For the spectrogram branch the channel-major
// position is f*t1 + t and the token is t*fr + f. Split across the workers by time step
// (to_tokens: each worker writes whole tokens) or by channel (from_tokens: whole rows).
void to_tokens(const float* src, int dim, int fr, std::int64_t t1, float* dst, Workers& workers) {
  workers.run(t1, 8, [&](std::int64_t t0, std::int64_t t_end, int) {
    for (int c = 0; c < dim; ++c)
      for (int f = 0; f < fr; ++f)
        for (std::int64_t t = t0; t < t_end; ++t)
          dst[(t * fr + f) * dim + c] = src[(static_cast<std::int64_t>(c) * fr + f) * t1 + t];
  });
}
void from_tokens(const float* src, int dim, int fr, std::int64_t t1, float* dst, Workers& workers) {
  workers.run(dim, 16, [&](std::int64_t c0, std::int64_t c1, int) {
    for (std::int64_t c = c0; c < c1; ++c)
      for (int f = 0; f < fr; ++f)
        for (std::int64_t t = 0; t < t1; ++t)
          dst[(c * fr + f) * t1 + t] = src[(t * fr + f) * dim + c];
  });
}

// MyGroupNorm(1, D) on (B, T, C): one mean/variance over the whole stream, per-channel affine.
// Per-token partial sums (double) go to `partial` and are added in token order, so the result
// does not depend on how the tokens are split across the workers.
void group_norm_tokens(float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                       double* partial, Workers& workers) {
  using CArr = Eigen::Map<const Eigen::ArrayXf>;
  const double total = static_cast<double>(n) * d;
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t r = r0; r < r1; ++r) partial[r] = CArr(x + r * d, d).cast<double>().sum();
  });
  double sum = 0.0;
  for (std::int64_t r = 0; r < n; ++r) sum += partial[r];
  const double mean = sum / total;
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t r = r0; r < r1; ++r)
      partial[r] = (CArr(x + r * d, d).cast<double>() - mean).square().sum();
  });
  double var = 0.0;
  for (std::int64_t r = 0; r < n; ++r) var += partial[r];
  const double inv = 1.0 / std::sqrt(var / total + 1e-5);
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t r = r0; r < r1; ++r) {
      float* p = x + r * d;
      for (int c = 0; c < d; ++c)
        p[c] = static_cast<float>((p[c] - mean) * inv) * gamma[c] + beta[c];
    }
  });
}

// x[i] += w * p[i] over [n][d] rows (the positional embedding).
void add_weighted(float* x, const float* p, float w, std::int64_t n, int d, Workers& workers) {
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t i = r0 * d; i < r1 * d; ++i) x[i] += w * p[i];
  });
}

void copy_rows(const float* src, std::int64_t n, int d, float* dst, Workers& workers) {
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    std::copy(src + r0 * d, src + r1 * d, dst + r0 * d);
  });
}

// x += scale * y per channel (LayerScale on a residual branch); no scale = plain sum.
void add_scaled(float* x, const float* y, std::int64_t n, int d, const models::Tensor& scale,
                Workers& workers) {
  workers.run(n, 16, [&](std::int64_t r0, std::int64_t r1, int) {
    if (scale.empty()) {
      for (std::int64_t i = r0 * d; i < r1 * d; ++i) x[i] += y[i];
      return;
    }
    const float* s = scale.data();
    for (std::int64_t r = r0; r < r1; ++r)
      for (int c = 0; c < d; ++c) x[r * d + c] += s[c] * y[r * d + c];
  });
}

// y[n][out] = x W^T + bias with W packed at load (weights.hpp). Token rows are split across the
// workers; every output is the same sum whatever the split.
void linear(const float* x, std::int64_t n, int in, const float* w, const float* bias, int out,
            float* y, Workers& workers) {
  workers.run(n, 24, [&](std::int64_t r0, std::int64_t r1, int) {
    models::tiled_gemm(r1 - r0, out, in, x + r0 * in, in, w, bias, y + r0 * out, out,
                       /*accumulate=*/false);
  });
}

// yt[out][n] = W x^T + bias: a Linear whose result is stored channel-major ([out][n]), so that
// one head's keys for one channel are contiguous for the score kernel. The product runs
// token-major into `scratch` (n x out), then a transpose by blocks of channels.
void linear_transposed(const float* x, std::int64_t n, int in, const float* w, const float* bias,
                       int out, float* scratch, float* yt, Workers& workers) {
  linear(x, n, in, w, bias, out, scratch, workers);
  constexpr std::int64_t kRows = 64;  // tokens per block: 64 x 16 channels of scratch in L1
  workers.run(out, 16, [&](std::int64_t c0, std::int64_t c1, int) {
    for (std::int64_t j0 = 0; j0 < n; j0 += kRows) {
      const std::int64_t j1 = std::min(n, j0 + kRows);
      for (std::int64_t c = c0; c < c1; ++c)
        for (std::int64_t j = j0; j < j1; ++j) yt[c * n + j] = scratch[j * out + c];
    }
  });
}

}  // namespace

CrossTransformer::CrossTransformer(const HTDemucsConfig& config, const HTDemucsWeights& weights,
                                   int fr, int t1, std::int64_t t2, int workers,
                                   rt::MemoryBudget& budget, const std::string& tag)
    : config_(config),
      weights_(weights),
      dim_(config.transformer_dim()),
      hidden_(static_cast<int>(config.transformer_dim() * config.t_hidden_scale)),
      heads_(config.t_heads),
      fr_(fr),
      t1_(t1),
      n1_(static_cast<std::int64_t>(fr) * t1),
      n2_(t2),
      nmax_(std::max(n1_, n2_)) {
  const std::string name = tag + "/transformer";
  const auto D = static_cast<std::size_t>(dim_);
  pos2d_ = budget.reserve_array<float>(name, n1_ * D);
  pos1d_ = budget.reserve_array<float>(name, n2_ * D);
  x_tok_ = budget.reserve_array<float>(name, n1_ * D);
  xt_tok_ = budget.reserve_array<float>(name, n2_ * D);
  old_x_ = budget.reserve_array<float>(name, n1_ * D);
  qn_ = budget.reserve_array<float>(name, nmax_ * D);
  kvn_ = budget.reserve_array<float>(name, nmax_ * D);
  q_ = budget.reserve_array<float>(name, nmax_ * D);
  k_ = budget.reserve_array<float>(name, nmax_ * D);
  v_ = budget.reserve_array<float>(name, nmax_ * D);
  ctx_ = budget.reserve_array<float>(name, nmax_ * D);
  tmp_ = budget.reserve_array<float>(name, nmax_ * D);
  // Per worker: one query block's scores for one head, then its rows' 1/sum.
  scores_ = budget.reserve_array<float>(
      name, static_cast<std::size_t>(workers) * kQueryBlock * static_cast<std::size_t>(nmax_ + 1));
  ff_ = budget.reserve_array<float>(name, nmax_ * static_cast<std::size_t>(hidden_));
  partial_ = budget.reserve_array<double>(name, static_cast<std::size_t>(nmax_));
  const auto period = static_cast<float>(config.t_max_period);
  sin_embedding_2d(dim_, fr_, t1_, period, pos2d_.as<float>().data());
  sin_embedding_1d(dim_, n2_, period, pos1d_.as<float>().data());
}

void CrossTransformer::attention(const AttentionW& w, const float* q_in, std::int64_t nq,
                                 const float* kv_in, std::int64_t nk, float* out) {
  Workers& wk = *workers_;
  const int D = dim_;
  const int hd = D / heads_;
  const float* in_w = w.in_w.data();
  const float* in_b = w.in_b.data();
  float* Q = q_.as<float>().data();
  float* KT = k_.as<float>().data();  // [D][nk]: channel-major keys
  float* V = v_.as<float>().data();
  float* ctx = ctx_.as<float>().data();
  float* S = scores_.as<float>().data();
  linear(q_in, nq, D, in_w, in_b, D, Q, wk);
  linear_transposed(kv_in, nk, D, in_w + static_cast<std::int64_t>(D) * D, in_b + D, D, ctx, KT,
                    wk);
  linear(kv_in, nk, D, in_w + 2 * static_cast<std::int64_t>(D) * D, in_b + 2 * D, D, V, wk);
  // torch scales the queries by 1/sqrt(head_dim) before the product.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Each worker owns a range of query rows (split in multiples of 8, the score kernel's row
  // tile, so the halves are even; every row's result is independent of the split) and works
  // through it in blocks of kQueryBlock rows, so that a block's scores (kQueryBlock x nk) stay
  // in cache from the product through the softmax to the product with V.
  wk.run(nq, 8, [&](std::int64_t r0, std::int64_t r1, int worker) {
    float* s = S + worker * kQueryBlock * (nmax_ + 1);
    float* inv_sum = s + kQueryBlock * nmax_;
    for (std::int64_t b0 = r0; b0 < r1; b0 += kQueryBlock) {
      const auto rows = static_cast<int>(std::min<std::int64_t>(kQueryBlock, r1 - b0));
      for (std::int64_t i = b0 * D; i < (b0 + rows) * D; ++i) Q[i] *= scale;
      for (int h = 0; h < heads_; ++h) {
        attention_scores(Q + b0 * D + h * hd, D, KT + h * hd * nk, nk, rows, nk, hd, s, nk);
        softmax_numerators(s, nk, rows, nk, inv_sum);
        attention_context(s, nk, V + h * hd, D, rows, nk, hd, inv_sum, ctx + b0 * D + h * hd, D);
      }
    }
  });
  linear(ctx, nq, D, w.out_w.data(), w.out_b.data(), D, out, wk);
}

// One pre-norm layer on the stream x (n tokens). Cross layers attend to kv (nk tokens, the
// other stream); self-attention layers pass kv = nullptr.
void CrossTransformer::layer(const XLayerW& w, float* x, std::int64_t n, const float* kv,
                             std::int64_t nk) {
  const int D = dim_;
  float* qn = qn_.as<float>().data();
  float* kvn = kvn_.as<float>().data();
  float* tmp = tmp_.as<float>().data();
  float* ff = ff_.as<float>().data();
  layer_norm_rows(x, n, D, w.norm1.g.data(), w.norm1.b.data(), 1e-5f, qn, *workers_);
  if (w.cross) {
    layer_norm_rows(kv, nk, D, w.norm2.g.data(), w.norm2.b.data(), 1e-5f, kvn, *workers_);
    attention(w.attn, qn, n, kvn, nk, tmp);
  } else {
    attention(w.attn, qn, n, qn, n, tmp);
  }
  add_scaled(x, tmp, n, D, w.gamma1, *workers_);
  const NormW& ffn = w.cross ? w.norm3 : w.norm2;
  layer_norm_rows(x, n, D, ffn.g.data(), ffn.b.data(), 1e-5f, qn, *workers_);
  linear(qn, n, D, w.linear1_w.data(), w.linear1_b.data(), hidden_, ff, *workers_);
  if (config_.t_gelu) {
    gelu_inplace(ff, n * hidden_, *workers_);
  } else {
    for (std::int64_t i = 0; i < n * hidden_; ++i) ff[i] = std::max(ff[i], 0.0f);
  }
  linear(ff, n, hidden_, w.linear2_w.data(), w.linear2_b.data(), D, tmp, *workers_);
  add_scaled(x, tmp, n, D, w.gamma2, *workers_);
  if (w.norm_out.present())
    group_norm_tokens(x, n, D, w.norm_out.g.data(), w.norm_out.b.data(),
                      partial_.as<double>().data(), *workers_);
}

void CrossTransformer::forward(float* x, float* xt, Workers& workers) {
  workers_ = &workers;
  const int D = dim_;
  float* xs = x_tok_.as<float>().data();
  float* ts = xt_tok_.as<float>().data();
  float* old = old_x_.as<float>().data();
  to_tokens(x, D, fr_, t1_, xs, workers);
  to_tokens(xt, D, 1, n2_, ts, workers);
  if (weights_.norm_in.present()) {
    layer_norm_rows(xs, n1_, D, weights_.norm_in.g.data(), weights_.norm_in.b.data(), 1e-5f, xs,
                    workers);
    layer_norm_rows(ts, n2_, D, weights_.norm_in_t.g.data(), weights_.norm_in_t.b.data(), 1e-5f, ts,
                    workers);
  }
  const auto wpos = static_cast<float>(config_.t_weight_pos_embed);
  add_weighted(xs, pos2d_.as<float>().data(), wpos, n1_, D, workers);
  add_weighted(ts, pos1d_.as<float>().data(), wpos, n2_, D, workers);

  for (std::size_t i = 0; i < weights_.layers.size(); ++i) {
    const XLayerW& wf = weights_.layers[i];
    const XLayerW& wt = weights_.layers_t[i];
    if (!wf.cross) {
      layer(wf, xs, n1_, nullptr, 0);
      layer(wt, ts, n2_, nullptr, 0);
    } else {
      // The waveform stream attends to the spectrogram stream as it was before this layer.
      copy_rows(xs, n1_, D, old, workers);
      layer(wf, xs, n1_, ts, n2_);
      layer(wt, ts, n2_, old, n1_);
    }
  }
  from_tokens(xs, D, fr_, t1_, x, workers);
  from_tokens(ts, D, 1, n2_, xt, workers);
}

double CrossTransformer::flops() const {
  const double D = dim_, H = hidden_;
  double total = 0.0;
  for (const auto& w : weights_.layers) {
    const bool cross = w.cross;
    for (int branch = 0; branch < 2; ++branch) {
      const double n = branch == 0 ? n1_ : n2_;
      const double nk = cross ? (branch == 0 ? n2_ : n1_) : n;
      total += 2.0 * (n * D * D + 2.0 * nk * D * D);  // q, k, v projections
      total += 2.0 * 2.0 * n * nk * D;                // scores and context
      total += 2.0 * n * D * D;                       // out projection
      total += 2.0 * 2.0 * n * D * H;                 // feed-forward
    }
  }
  return total;
}

}  // namespace earshot::htdemucs
