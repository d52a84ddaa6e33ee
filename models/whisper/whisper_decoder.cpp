#include "models/whisper/whisper_decoder.hpp"

#include "models/whisper/decoder_layout.hpp"
#include "models/whisper/staged_work.hpp"
#include "models/whisper/transformer_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace earshot::models::whisper {

std::size_t WhisperDecoder::workspace_bytes(const WhisperConfig& config, int max_sequences,
                                            int workers, CrossKvPrecision cross_kv) {
  return Layout(config, max_sequences, workers, cross_kv == CrossKvPrecision::kF16 ? 2 : 4).total *
         sizeof(float);
}

WhisperDecoder::WhisperDecoder(const WhisperModel& model, rt::MemoryBudget& budget,
                               int max_sequences, Parallel* parallel, CrossKvPrecision cross_kv)
    : model_(model), max_sequences_(max_sequences), parallel_(parallel), cross_kv_(cross_kv) {
  if (max_sequences < 1) throw std::invalid_argument("whisper decoder: max_sequences < 1");
  layout_ = std::make_unique<Layout>(model.config, max_sequences, parallel_size(parallel),
                                     cross_kv_bytes_per_value());
  stages_ = std::make_unique<StagedWork>(6 * model.config.decoder_layers + 1);
  workspace_ = budget.reserve(
      "whisper decoder (KV cache, activations)",
      workspace_bytes(model.config, max_sequences, parallel_size(parallel), cross_kv));
  const auto n = static_cast<std::size_t>(max_sequences);
  lengths_.assign(n, 0);
  slot_of_.resize(n);
  for (int i = 0; i < max_sequences; ++i) slot_of_[static_cast<std::size_t>(i)] = i;
  positions_.resize(static_cast<std::size_t>(std::max(model.config.n_text_ctx, max_sequences)));
  row_seqs_.resize(static_cast<std::size_t>(model.config.n_text_ctx));
  new_slots_.resize(n);
  claimed_.resize(n);
}

WhisperDecoder::~WhisperDecoder() = default;

float* WhisperDecoder::self_k(int layer, int slot) {
  const Layout& L = *layout_;
  const std::size_t block = static_cast<std::size_t>(model_.config.n_text_ctx) *
                            static_cast<std::size_t>(model_.config.d_model);
  return workspace_.as<float>().data() + L.self_k +
         (static_cast<std::size_t>(layer) * max_sequences_ + static_cast<std::size_t>(slot)) *
             block;
}

float* WhisperDecoder::self_v(int layer, int slot) {
  return self_k(layer, slot) + (layout_->self_v - layout_->self_k);
}

float* WhisperDecoder::cross_k(int layer, int head) {
  const Layout& L = *layout_;
  const std::size_t index =
      static_cast<std::size_t>(layer) * static_cast<std::size_t>(model_.config.decoder_heads) +
      static_cast<std::size_t>(head);
  return workspace_.as<float>().data() + L.cross_k + index * L.cross_k_head;
}

float* WhisperDecoder::cross_v(int layer, int head) {
  const Layout& L = *layout_;
  const std::size_t index =
      static_cast<std::size_t>(layer) * static_cast<std::size_t>(model_.config.decoder_heads) +
      static_cast<std::size_t>(head);
  return workspace_.as<float>().data() + L.cross_v + index * L.cross_v_head;
}

void WhisperDecoder::attend_cross(int layer, int head, const float* q, int rows, int ldq,
                                  float* scores, float* out, int ldo) {
  const int hd = model_.config.decoder_head_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  if (cross_kv_ == CrossKvPrecision::kF16)
    attend_packed_head(q, rows, ldq, reinterpret_cast<const std::uint16_t*>(cross_k(layer, head)),
                       reinterpret_cast<const std::uint16_t*>(cross_v(layer, head)), audio_ctx_, hd,
                       scale, scores, out, ldo);
  else
    attend_packed_head(q, rows, ldq, cross_k(layer, head), cross_v(layer, head), audio_ctx_, hd,
                       scale, scores, out, ldo);
}

void WhisperDecoder::set_audio(const float* audio_features, int n_audio_ctx) {
  const WhisperConfig& c = model_.config;
  if (n_audio_ctx <= 0) n_audio_ctx = c.n_audio_ctx;
  if (n_audio_ctx > c.n_audio_ctx)
    throw std::invalid_argument("whisper decoder: " + std::to_string(n_audio_ctx) +
                                " audio positions, the model has " + std::to_string(c.n_audio_ctx));
  const Layout& L = *layout_;
  float* ws = workspace_.as<float>().data();
  // One layer's K (then V) [n_audio_ctx, d] is staged in the MLP buffer, then split by head.
  float* staging = ws + L.mlp;
  const int d = c.d_model, heads = c.decoder_heads, hd = c.decoder_head_dim();
  for (int i = 0; i < c.decoder_layers; ++i) {
    const auto& a = model_.weights.decoder_layers[static_cast<std::size_t>(i)].cross_attn;
    linear(audio_features, n_audio_ctx, a.k.w, nullptr, staging, ws + L.scratch, parallel_, gemm_);
    parallel_for(parallel_, heads, 1, [&](int h0, int h1, int) {
      for (int h = h0; h < h1; ++h)
        if (cross_kv_ == CrossKvPrecision::kF16)
          pack_head_keys(staging, n_audio_ctx, d, h, hd,
                         reinterpret_cast<std::uint16_t*>(cross_k(i, h)));
        else
          pack_head_keys(staging, n_audio_ctx, d, h, hd, cross_k(i, h));
    });
    linear(audio_features, n_audio_ctx, a.v.w, a.v.bias(), staging, ws + L.scratch, parallel_,
           gemm_);
    parallel_for(parallel_, heads, 1, [&](int h0, int h1, int) {
      for (int h = h0; h < h1; ++h)
        if (cross_kv_ == CrossKvPrecision::kF16)
          copy_head_values(staging, n_audio_ctx, d, h, hd,
                           reinterpret_cast<std::uint16_t*>(cross_v(i, h)));
        else
          copy_head_values(staging, n_audio_ctx, d, h, hd, cross_v(i, h));
    });
  }
  audio_ctx_ = n_audio_ctx;
  reset();
}

void WhisperDecoder::reset() {
  std::fill(lengths_.begin(), lengths_.end(), 0);
  for (int i = 0; i < max_sequences_; ++i) slot_of_[static_cast<std::size_t>(i)] = i;
}

void WhisperDecoder::truncate(int seq, int length) {
  auto& len = lengths_.at(static_cast<std::size_t>(seq));
  len = std::clamp(length, 0, len);
}

const float* WhisperDecoder::forward(int seq, const int* tokens, int n) {
  if (n > max_rows()) throw std::length_error("whisper decoder: too many tokens in one call");
  std::fill(row_seqs_.begin(), row_seqs_.begin() + std::max(n, 0), seq);
  return forward(row_seqs_.data(), tokens, n);
}

const float* WhisperDecoder::forward(const int* seqs, const int* tokens, int rows) {
  const WhisperConfig& c = model_.config;
  if (audio_ctx_ == 0) throw std::logic_error("whisper decoder: set_audio() was not called");
  if (rows < 1 || rows > max_rows())
    throw std::length_error("whisper decoder: " + std::to_string(rows) +
                            " rows in one call (1 .. " + std::to_string(max_rows()) + ")");

  // Positions continue each sequence; check everything before touching the cache.
  for (int r = 0; r < rows; ++r) {
    const int s = seqs[r];
    if (s < 0 || s >= max_sequences_)
      throw std::out_of_range("whisper decoder: sequence " + std::to_string(s) + " out of range");
    if (tokens[r] < 0 || tokens[r] >= c.n_vocab)
      throw std::out_of_range("whisper decoder: token id " + std::to_string(tokens[r]) +
                              " out of range");
    if (r > 0 && seqs[r - 1] != s)
      for (int q = 0; q < r - 1; ++q)
        if (seqs[q] == s)
          throw std::invalid_argument("whisper decoder: rows of a sequence must be consecutive");
    const int pos = (r > 0 && seqs[r - 1] == s) ? positions_[static_cast<std::size_t>(r - 1)] + 1
                                                : lengths_[static_cast<std::size_t>(s)];
    if (pos >= c.n_text_ctx)
      throw std::length_error("whisper decoder: text context of " + std::to_string(c.n_text_ctx) +
                              " tokens is full");
    positions_[static_cast<std::size_t>(r)] = pos;
  }

  embed(tokens, rows);
  const float* hidden =
      rows <= kFusedMaxRows ? forward_step(seqs, rows) : forward_batched(seqs, rows);
  for (int r = 0; r < rows; ++r)
    lengths_[static_cast<std::size_t>(seqs[r])] = positions_[static_cast<std::size_t>(r)] + 1;
  return hidden;
}

// Token embedding + learned positional embedding.
void WhisperDecoder::embed(const int* tokens, int rows) {
  const int d = model_.config.d_model;
  const WhisperWeights& w = model_.weights;
  float* x = workspace_.as<float>().data() + layout_->x;
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<std::size_t>(r) * d;
    weight_row_f32(w.embed_tokens, tokens[r], row);
    add_inplace(row,
                w.decoder_positions.data() +
                    static_cast<std::size_t>(positions_[static_cast<std::size_t>(r)]) * d,
                static_cast<std::size_t>(d));
  }
}

// Many rows: product by product, each split between the workers.
const float* WhisperDecoder::forward_batched(const int* seqs, int rows) {
  const WhisperConfig& c = model_.config;
  const WhisperWeights& w = model_.weights;
  const int d = c.d_model;
  const Layout& L = *layout_;
  float* ws = workspace_.as<float>().data();
  float* x = ws + L.x;
  float* h = ws + L.h;
  float* scratch = ws + L.scratch;
  const std::size_t rd = static_cast<std::size_t>(rows) * d;
  const int heads = c.decoder_heads, hd = c.decoder_head_dim();
  DecodeStageClock clock(profile_);
  for (int li = 0; li < c.decoder_layers; ++li) {
    const DecoderLayerWeight& layer = w.decoder_layers[static_cast<std::size_t>(li)];
    // Causal self-attention: append this call's K/V to each sequence's cache, then attend
    // over the cache (run by run: consecutive rows of one sequence share one block).
    layer_norm(x, rows, d, layer.self_ln, h);
    linear(h, rows, layer.self_attn.q.w, layer.self_attn.q.bias(), ws + L.q, scratch, parallel_,
           gemm_);
    linear(h, rows, layer.self_attn.k.w, nullptr, ws + L.k, scratch, parallel_, gemm_);
    linear(h, rows, layer.self_attn.v.w, layer.self_attn.v.bias(), ws + L.v, scratch, parallel_,
           gemm_);
    for (int r = 0; r < rows; ++r) {
      const int slot = slot_of_[static_cast<std::size_t>(seqs[r])];
      const std::size_t pos = static_cast<std::size_t>(positions_[static_cast<std::size_t>(r)]);
      std::memcpy(self_k(li, slot) + pos * d, ws + L.k + static_cast<std::size_t>(r) * d,
                  sizeof(float) * static_cast<std::size_t>(d));
      std::memcpy(self_v(li, slot) + pos * d, ws + L.v + static_cast<std::size_t>(r) * d,
                  sizeof(float) * static_cast<std::size_t>(d));
    }
    clock.mark(DecodeStage::kSelfProjections);
    for (int r0 = 0; r0 < rows;) {
      int r1 = r0 + 1;
      while (r1 < rows && seqs[r1] == seqs[r0]) ++r1;
      const int slot = slot_of_[static_cast<std::size_t>(seqs[r0])];
      const int first = positions_[static_cast<std::size_t>(r0)];
      const int n_key = positions_[static_cast<std::size_t>(r1 - 1)] + 1;
      const std::size_t off = static_cast<std::size_t>(r0) * d;
      multi_head_attention(ws + L.q + off, r1 - r0, self_k(li, slot), self_v(li, slot), n_key, d,
                           c.decoder_heads, c.decoder_head_dim(), first, ws + L.scores,
                           ws + L.attn + off, parallel_, gemm_);
      r0 = r1;
    }
    clock.mark(DecodeStage::kSelfAttention);
    linear(ws + L.attn, rows, layer.self_attn.out.w, layer.self_attn.out.bias(), ws + L.proj,
           scratch, parallel_, gemm_);
    add_inplace(x, ws + L.proj, rd);
    clock.mark(DecodeStage::kSelfProjections);

    // Cross-attention over the audio features (K/V precomputed by set_audio).
    layer_norm(x, rows, d, layer.cross_ln, h);
    linear(h, rows, layer.cross_attn.q.w, layer.cross_attn.q.bias(), ws + L.q, scratch, parallel_,
           gemm_);
    clock.mark(DecodeStage::kCrossProjections);
    parallel_for(parallel_, heads, 1, [&](int h0, int h1, int worker) {
      float* scores =
          ws + L.step + static_cast<std::size_t>(worker) * L.step_floats + L.step_scores;
      for (int hh = h0; hh < h1; ++hh)
        attend_cross(li, hh, ws + L.q + static_cast<std::size_t>(hh) * hd, rows, d, scores,
                     ws + L.attn + static_cast<std::size_t>(hh) * hd, d);
    });
    clock.mark(DecodeStage::kCrossAttention);
    linear(ws + L.attn, rows, layer.cross_attn.out.w, layer.cross_attn.out.bias(), ws + L.proj,
           scratch, parallel_, gemm_);
    add_inplace(x, ws + L.proj, rd);
    clock.mark(DecodeStage::kCrossProjections);

    // MLP.
    layer_norm(x, rows, d, layer.mlp_ln, h);
    linear(h, rows, layer.fc1.w, layer.fc1.bias(), ws + L.mlp, scratch, parallel_, gemm_);
    gelu_inplace(ws + L.mlp, rows, c.decoder_ffn, parallel_);
    linear(ws + L.mlp, rows, layer.fc2.w, layer.fc2.bias(), ws + L.proj, scratch, parallel_, gemm_);
    add_inplace(x, ws + L.proj, rd);
    clock.mark(DecodeStage::kMlp);
  }
  layer_norm(x, rows, d, w.decoder_ln, h);
  clock.mark(DecodeStage::kLogits);
  return h;
}

void WhisperDecoder::logits(const float* hidden, int rows, float* out) {
  if (rows >= 1 && rows <= kFusedMaxRows) {
    logits_step(hidden, rows, out);
    return;
  }
  const Layout& L = *layout_;
  DecodeStageClock clock(profile_);
  linear(hidden, rows, model_.weights.output_projection(), nullptr, out,
         workspace_.as<float>().data() + L.scratch, parallel_, gemm_);
  clock.mark(DecodeStage::kLogits);
}

void WhisperDecoder::rearrange(const int* source, int n) {
  if (n < 0 || n > max_sequences_) throw std::out_of_range("whisper decoder: rearrange size");
  // The first sequence to take a source inherits its slot; later forks copy it into a slot no
  // new sequence claimed (there are exactly as many such slots as forks).
  std::fill(claimed_.begin(), claimed_.end(), 0);
  std::vector<int>& old_lengths = positions_;  // scratch: positions are per-call only
  for (int i = 0; i < max_sequences_; ++i)
    old_lengths[static_cast<std::size_t>(i)] = lengths_[static_cast<std::size_t>(i)];
  for (int i = 0; i < n; ++i) {
    const int src = source[i];
    if (src < 0 || src >= max_sequences_)
      throw std::out_of_range("whisper decoder: rearrange source out of range");
    const int slot = slot_of_[static_cast<std::size_t>(src)];
    new_slots_[static_cast<std::size_t>(i)] = claimed_[static_cast<std::size_t>(slot)] ? -1 : slot;
    claimed_[static_cast<std::size_t>(slot)] = 1;
  }
  int next_free = 0;
  const std::size_t d = static_cast<std::size_t>(model_.config.d_model);
  for (int i = 0; i < n; ++i) {
    if (new_slots_[static_cast<std::size_t>(i)] >= 0) continue;
    while (claimed_[static_cast<std::size_t>(next_free)]) ++next_free;
    const int dst = next_free;
    claimed_[static_cast<std::size_t>(dst)] = 1;
    const int src_slot = slot_of_[static_cast<std::size_t>(source[i])];
    const std::size_t count =
        static_cast<std::size_t>(old_lengths[static_cast<std::size_t>(source[i])]) * d;
    for (int li = 0; li < model_.config.decoder_layers; ++li) {
      std::memcpy(self_k(li, dst), self_k(li, src_slot), count * sizeof(float));
      std::memcpy(self_v(li, dst), self_v(li, src_slot), count * sizeof(float));
    }
    new_slots_[static_cast<std::size_t>(i)] = dst;
  }
  for (int i = 0; i < n; ++i) {
    slot_of_[static_cast<std::size_t>(i)] = new_slots_[static_cast<std::size_t>(i)];
    lengths_[static_cast<std::size_t>(i)] = old_lengths[static_cast<std::size_t>(source[i])];
  }
  // Sequences past n keep unclaimed slots so every slot stays owned by exactly one sequence.
  for (int i = n; i < max_sequences_; ++i) {
    while (claimed_[static_cast<std::size_t>(next_free)]) ++next_free;
    claimed_[static_cast<std::size_t>(next_free)] = 1;
    slot_of_[static_cast<std::size_t>(i)] = next_free;
    lengths_[static_cast<std::size_t>(i)] = 0;
  }
}

}  // namespace earshot::models::whisper
