// Where each buffer of WhisperDecoder's one workspace block lives (offsets in floats).
// Private to the decoder's .cpp files.
#pragma once

#include "models/whisper/decode_attention.hpp"
#include "models/whisper/gemv.hpp"
#include "models/whisper/transformer_ops.hpp"
#include "models/whisper/whisper_decoder.hpp"

#include <algorithm>

namespace earshot::models::whisper {

// Rows (tokens) one call may have for the one-region decode step; more take the batched path.
inline constexpr int kFusedMaxRows = kGemvMaxInputs;

struct WhisperDecoder::Layout {
  // self_k/self_v: [layer][slot][n_text_ctx][d]. cross_k: [layer][head] packed keys
  // (decode_attention.hpp), cross_k_head floats each; cross_v: [layer][head][n_audio_ctx][hd]
  // (F16 or F32 values; the sizes are in floats either way).
  // step: per worker, the one-region step's LayerNorm output, q/k/v of one head and scores.
  std::size_t self_k, self_v, cross_k, cross_v, x, h, q, k, v, attn, proj, mlp, scores, scratch,
      step, total;
  std::size_t cross_k_head, cross_v_head, step_ln, step_q, step_k, step_v, step_scores, step_floats;

  // kv_bytes: bytes per stored cross K/V value (2 for F16, 4 for F32).
  Layout(const WhisperConfig& c, int sequences, int workers, int kv_bytes) {
    const std::size_t n_workers = static_cast<std::size_t>(workers);
    const std::size_t d = static_cast<std::size_t>(c.d_model);
    const std::size_t hd = static_cast<std::size_t>(c.decoder_head_dim());
    const std::size_t heads = static_cast<std::size_t>(c.decoder_heads);
    const std::size_t layers = static_cast<std::size_t>(c.decoder_layers);
    const std::size_t ctx = static_cast<std::size_t>(c.n_text_ctx);
    const std::size_t audio = static_cast<std::size_t>(c.n_audio_ctx);
    const std::size_t rows = ctx;
    const std::size_t fused = static_cast<std::size_t>(kFusedMaxRows);
    std::size_t at = 0;
    auto round = [](std::size_t n) { return (n + 15) / 16 * 16; };
    auto take = [&](std::size_t n) {
      const std::size_t begin = at;
      at += round(n);
      return begin;
    };
    const std::size_t kvb = static_cast<std::size_t>(kv_bytes);
    cross_k_head = round((packed_k_floats(c.n_audio_ctx, c.decoder_head_dim()) * kvb + 3) / 4);
    cross_v_head = round((audio * hd * kvb + 3) / 4);
    self_k = take(layers * static_cast<std::size_t>(sequences) * ctx * d);
    self_v = take(layers * static_cast<std::size_t>(sequences) * ctx * d);
    cross_k = take(layers * heads * cross_k_head);
    cross_v = take(layers * heads * cross_v_head);
    x = take(rows * d);
    h = take(rows * d);
    q = take(rows * d);
    k = take(rows * d);
    v = take(rows * d);
    attn = take(rows * d);
    proj = take(rows * d);
    // Also set_audio()'s staging area for one layer's K or V before they are split by head.
    mlp = take(std::max(rows * static_cast<std::size_t>(c.decoder_ffn), audio * d));
    scores = take(n_workers *
                  attention_scratch_floats(c.n_text_ctx, c.n_text_ctx, c.decoder_head_dim()));
    scratch = take(n_workers * linear_scratch_floats(std::max(c.d_model, c.decoder_ffn)));
    step_ln = 0;
    step_q = round(fused * d);
    step_k = step_q + round(fused * hd);
    step_v = step_k + round(fused * hd);
    step_scores = step_v + round(fused * hd);
    step_floats = step_scores + round(std::max(packed_scores_floats(c.n_audio_ctx), ctx));
    step = take(n_workers * step_floats);
    total = at;
  }
};

}  // namespace earshot::models::whisper
