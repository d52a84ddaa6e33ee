// GCC 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// The decode step for a few rows (one token per sequence) as ONE parallel region.
//
// A token reads every decoder weight once and does almost no arithmetic with it, so the step
// is a chain of memory streams: per layer
//   A  per head:  q/k/v rows of that head . LN(x), append k/v to the cache, attend over it
//   B  per chunk of rows: x += W_o . attn + b            (self-attention output)
//   C  per head:  q rows of that head . LN(x), attend over the head's cross K/V
//   D  per chunk of rows: x += W_o . attn + b            (cross-attention output)
//   E  per chunk of rows: mlp = GELU(W_1 . LN(x) + b)
//   F  per chunk of rows: x += W_2 . mlp + b
// Stages are claimed chunk by chunk (staged_work.hpp), so the threads are woken once per token
// and stay balanced. Heads are independent from their projections to their attention output,
// so A and C need no barrier inside. Each thread computes the (tiny) LayerNorm of x itself
// instead of waiting for one thread to do it.
#include "models/whisper/decoder_layout.hpp"
#include "models/whisper/staged_work.hpp"
#include "models/whisper/transformer_ops.hpp"

#include <Eigen/Core>
#include <cmath>
#include <cstring>
#include <unsupported/Eigen/SpecialFunctions>

namespace earshot::models::whisper {
namespace {

constexpr int kStagesPerLayer = 6;
// Weight rows per claimed chunk: small enough to balance two threads, large enough that the
// claim (one shared atomic) is noise next to the stream.
constexpr int kRowsPerChunk = 32;
constexpr int kLogitRowsPerChunk = 512;

int chunks_of(int n, int per_chunk) {
  return (n + per_chunk - 1) / per_chunk;
}

void gelu_span(float* x, std::size_t n) {
  Eigen::Map<Eigen::ArrayXf> a(x, static_cast<Eigen::Index>(n));
  a = 0.5f * a * (1.0f + (a * static_cast<float>(M_SQRT1_2)).erf());
}

}  // namespace

const float* WhisperDecoder::forward_step(const int* seqs, int rows) {
  const WhisperConfig& c = model_.config;
  const Layout& L = *layout_;
  float* ws = workspace_.as<float>().data();
  stages_->reset(kStagesPerLayer * c.decoder_layers);
  if (parallel_size(parallel_) > 1)
    parallel_->run([&](int share) { step_stages(seqs, rows, share); });
  else
    step_stages(seqs, rows, 0);
  DecodeStageClock clock(profile_);
  layer_norm(ws + L.x, rows, c.d_model, model_.weights.decoder_ln, ws + L.h);
  clock.mark(DecodeStage::kLogits);
  return ws + L.h;
}

void WhisperDecoder::step_stages(const int* seqs, int rows, int share) {
  const WhisperConfig& c = model_.config;
  const WhisperWeights& w = model_.weights;
  const Layout& L = *layout_;
  float* ws = workspace_.as<float>().data();
  const int d = c.d_model, heads = c.decoder_heads, hd = c.decoder_head_dim(), ffn = c.decoder_ffn;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  float* x = ws + L.x;
  float* attn = ws + L.attn;
  float* mlp = ws + L.mlp;
  float* mine = ws + L.step + static_cast<std::size_t>(share) * L.step_floats;
  float* ln = mine + L.step_ln;
  float* q = mine + L.step_q;
  float* k = mine + L.step_k;
  float* v = mine + L.step_v;
  float* scores = mine + L.step_scores;
  StagedWork& work = *stages_;
  // Only the calling thread (share 0) stamps the stage clock: it sees every stage end.
  DecodeStageClock clock(share == 0 ? profile_ : nullptr);
  const int d_chunks = chunks_of(d, kRowsPerChunk);
  const int ffn_chunks = chunks_of(ffn, kRowsPerChunk);
  const std::size_t ud = static_cast<std::size_t>(d), uhd = static_cast<std::size_t>(hd);

  // x += W . in + b over the chunks of stage s (B, D, F).
  auto residual_stage = [&](int s, const LinearWeight& lw, const float* in, DecodeStage tag) {
    for (int i; (i = work.claim(s, d_chunks)) >= 0;) {
      const int j0 = i * kRowsPerChunk, j1 = std::min(d, j0 + kRowsPerChunk);
      gemv_rows(in, rows, lw.w, j0, j1, lw.bias(), x + j0, d, true);
      work.finish(s);
    }
    work.wait(s, d_chunks);
    clock.mark(tag);
  };

  for (int li = 0; li < c.decoder_layers; ++li) {
    const DecoderLayerWeight& layer = w.decoder_layers[static_cast<std::size_t>(li)];
    const int s0 = li * kStagesPerLayer;
    bool have_ln = false;

    // A: self-attention, head by head.
    for (int hh; (hh = work.claim(s0, heads)) >= 0;) {
      if (!have_ln) layer_norm(x, rows, d, layer.self_ln, ln);
      have_ln = true;
      const int j0 = hh * hd, j1 = j0 + hd;
      gemv_rows(ln, rows, layer.self_attn.q.w, j0, j1, layer.self_attn.q.bias(), q, hd, false);
      gemv_rows(ln, rows, layer.self_attn.k.w, j0, j1, nullptr, k, hd, false);
      gemv_rows(ln, rows, layer.self_attn.v.w, j0, j1, layer.self_attn.v.bias(), v, hd, false);
      for (int r = 0; r < rows; ++r) {
        const int slot = slot_of_[static_cast<std::size_t>(seqs[r])];
        const std::size_t pos = static_cast<std::size_t>(positions_[static_cast<std::size_t>(r)]);
        std::memcpy(self_k(li, slot) + pos * ud + j0, k + r * uhd, sizeof(float) * uhd);
        std::memcpy(self_v(li, slot) + pos * ud + j0, v + r * uhd, sizeof(float) * uhd);
      }
      clock.mark(DecodeStage::kSelfProjections);
      // Rows of one sequence are consecutive and all appended above, so row r sees its own
      // sequence's keys up to its own position (causal within the call too).
      for (int r = 0; r < rows; ++r) {
        const int slot = slot_of_[static_cast<std::size_t>(seqs[r])];
        attend_strided_head(q + r * uhd, self_k(li, slot) + j0, self_v(li, slot) + j0, d,
                            positions_[static_cast<std::size_t>(r)] + 1, hd, scale, scores,
                            attn + r * ud + j0);
      }
      clock.mark(DecodeStage::kSelfAttention);
      work.finish(s0);
    }
    work.wait(s0, heads);
    clock.mark(DecodeStage::kSelfAttention);

    // B: self-attention output projection into the residual stream.
    residual_stage(s0 + 1, layer.self_attn.out, attn, DecodeStage::kSelfProjections);

    // C: cross-attention, head by head, over the window's K/V.
    have_ln = false;
    for (int hh; (hh = work.claim(s0 + 2, heads)) >= 0;) {
      if (!have_ln) layer_norm(x, rows, d, layer.cross_ln, ln);
      have_ln = true;
      const int j0 = hh * hd, j1 = j0 + hd;
      gemv_rows(ln, rows, layer.cross_attn.q.w, j0, j1, layer.cross_attn.q.bias(), q, hd, false);
      clock.mark(DecodeStage::kCrossProjections);
      attend_cross(li, hh, q, rows, hd, scores, attn + j0, d);
      clock.mark(DecodeStage::kCrossAttention);
      work.finish(s0 + 2);
    }
    work.wait(s0 + 2, heads);
    clock.mark(DecodeStage::kCrossAttention);

    // D: cross-attention output projection.
    residual_stage(s0 + 3, layer.cross_attn.out, attn, DecodeStage::kCrossProjections);

    // E: fc1 + GELU.
    have_ln = false;
    for (int i; (i = work.claim(s0 + 4, ffn_chunks)) >= 0;) {
      if (!have_ln) layer_norm(x, rows, d, layer.mlp_ln, ln);
      have_ln = true;
      const int j0 = i * kRowsPerChunk, j1 = std::min(ffn, j0 + kRowsPerChunk);
      gemv_rows(ln, rows, layer.fc1.w, j0, j1, layer.fc1.bias(), mlp + j0, ffn, false);
      for (int r = 0; r < rows; ++r)
        gelu_span(mlp + static_cast<std::size_t>(r) * ffn + j0, static_cast<std::size_t>(j1 - j0));
      work.finish(s0 + 4);
    }
    work.wait(s0 + 4, ffn_chunks);
    clock.mark(DecodeStage::kMlp);

    // F: fc2 into the residual stream.
    residual_stage(s0 + 5, layer.fc2, mlp, DecodeStage::kMlp);
  }
}

void WhisperDecoder::logits_step(const float* hidden, int rows, float* out) {
  const WeightMatrix& e = model_.weights.output_projection();
  DecodeStageClock clock(profile_);
  StagedWork& work = *stages_;
  const int chunks = chunks_of(e.rows, kLogitRowsPerChunk);
  work.reset(1);
  auto walk = [&](int) {
    for (int i; (i = work.claim(0, chunks)) >= 0;) {
      const int j0 = i * kLogitRowsPerChunk, j1 = std::min(e.rows, j0 + kLogitRowsPerChunk);
      gemv_rows(hidden, rows, e, j0, j1, nullptr, out + j0, e.rows, false);
      work.finish(0);
    }
    work.wait(0, chunks);
  };
  if (parallel_size(parallel_) > 1)
    parallel_->run(walk);
  else
    walk(0);
  clock.mark(DecodeStage::kLogits);
}

}  // namespace earshot::models::whisper
