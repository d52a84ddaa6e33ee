#include "models/whisper/whisper_encoder.hpp"

#include "models/whisper/transformer_ops.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace earshot::models::whisper {

// Offsets (in floats) of each activation inside the one workspace block.
struct WhisperEncoder::Layout {
  std::size_t im2col, conv1, x, h, q, k, v, attn, proj, mlp, scores, scratch, gemm, total;

  Layout(const WhisperConfig& c, int workers) {
    const std::size_t n_workers = static_cast<std::size_t>(workers);
    const std::size_t t = static_cast<std::size_t>(c.n_audio_ctx);
    const std::size_t d = static_cast<std::size_t>(c.d_model);
    const std::size_t frames = 2 * t;
    std::size_t at = 0;
    auto take = [&](std::size_t n) {
      const std::size_t begin = at;
      at += (n + 15) / 16 * 16;  // keep every buffer 64-byte aligned
      return begin;
    };
    im2col = take(std::max(frames * c.n_mels * 3, t * d * 3));
    conv1 = take(frames * d);
    x = take(t * d);
    h = take(t * d);
    q = take(t * d);
    k = take(t * d);
    v = take(t * d);
    attn = take(t * d);
    proj = take(t * d);
    mlp = take(t * static_cast<std::size_t>(c.encoder_ffn));
    scores = take(n_workers *
                  attention_scratch_floats(c.n_audio_ctx, c.n_audio_ctx, c.encoder_head_dim()));
    scratch = take(n_workers *
                   linear_scratch_floats(std::max({c.n_mels * 3, c.d_model * 3, c.encoder_ffn})));
    gemm = take(n_workers * static_cast<std::size_t>(GemmWorkspace::floats_needed()));
    total = at;
  }
};

std::size_t WhisperEncoder::workspace_bytes(const WhisperConfig& config, int workers) {
  return Layout(config, workers).total * sizeof(float);
}

WhisperEncoder::WhisperEncoder(const WhisperModel& model, rt::MemoryBudget& budget,
                               Parallel* parallel)
    : model_(model),
      parallel_(parallel),
      workspace_(budget.reserve("whisper encoder workspace",
                                workspace_bytes(model.config, parallel_size(parallel)))) {
  const Layout L(model.config, parallel_size(parallel));
  const int workers = parallel_size(parallel);
  gemm_.reserve(static_cast<std::size_t>(workers));
  for (int i = 0; i < workers; ++i)
    gemm_.emplace_back(workspace_.as<float>().data() + L.gemm +
                       static_cast<std::size_t>(i) *
                           static_cast<std::size_t>(GemmWorkspace::floats_needed()));
}

void WhisperEncoder::forward(const float* mel, int n_mels, int n_frames, float* out) {
  const WhisperConfig& c = model_.config;
  const WhisperWeights& w = model_.weights;
  if (n_mels != c.n_mels)
    throw std::invalid_argument("whisper encoder: this model takes " + std::to_string(c.n_mels) +
                                "-bin log-mel features, got " + std::to_string(n_mels) + " bins");
  if (n_frames < 2 || n_frames > c.n_mel_frames() || n_frames % 2 != 0)
    throw std::invalid_argument("whisper encoder: expected an even number of mel frames up to " +
                                std::to_string(c.n_mel_frames()) + " (30 s), got " +
                                std::to_string(n_frames));
  const Layout L(c, parallel_size(parallel_));
  Parallel* p = parallel_;
  float* ws = workspace_.as<float>().data();
  float* im2col = ws + L.im2col;
  float* y1 = ws + L.conv1;
  float* x = ws + L.x;
  float* h = ws + L.h;
  float* scratch = ws + L.scratch;
  GemmWorkspace* g = gemm_.data();
  // A reduced audio context: the stride-2 conv halves the frames, and the positional
  // embedding is sliced to the first t positions (as the reduced-context trick does).
  const int t = n_frames / 2;
  const int d = c.d_model;
  const std::size_t td = static_cast<std::size_t>(t) * d;

  // conv1 as a GEMM: im2col row f holds mel[ch, f + k - 1] at column ch*3 + k (zero padded),
  // matching the [d, n_mels, 3] weight flattened to [d, n_mels*3].
  const int cols1 = n_mels * 3;
  for (int f = 0; f < n_frames; ++f) {
    float* row = im2col + static_cast<std::size_t>(f) * cols1;
    for (int ch = 0; ch < n_mels; ++ch) {
      const float* m = mel + static_cast<std::size_t>(ch) * n_frames;
      row[ch * 3 + 0] = f > 0 ? m[f - 1] : 0.0f;
      row[ch * 3 + 1] = m[f];
      row[ch * 3 + 2] = f + 1 < n_frames ? m[f + 1] : 0.0f;
    }
  }
  linear(im2col, n_frames, w.conv1.w, w.conv1.bias(), y1, scratch, p, g);
  gelu_inplace(y1, n_frames, d, p);

  // conv2, stride 2: output frame i reads input frames 2i-1, 2i, 2i+1.
  const int cols2 = d * 3;
  for (int i = 0; i < t; ++i) {
    float* row = im2col + static_cast<std::size_t>(i) * cols2;
    for (int k = 0; k < 3; ++k) {
      const int f = 2 * i + k - 1;
      const float* src = (f >= 0 && f < n_frames) ? y1 + static_cast<std::size_t>(f) * d : nullptr;
      for (int ch = 0; ch < d; ++ch) row[ch * 3 + k] = src ? src[ch] : 0.0f;
    }
  }
  linear(im2col, t, w.conv2.w, w.conv2.bias(), x, scratch, p, g);
  gelu_inplace(x, t, d, p);
  add_inplace(x, w.encoder_positions.data(), td);

  for (const EncoderLayerWeight& layer : w.encoder_layers) {
    // Self-attention sub-block (pre-LN, residual).
    layer_norm(x, t, d, layer.attn_ln, h, p);
    linear(h, t, layer.attn.q.w, layer.attn.q.bias(), ws + L.q, scratch, p, g);
    linear(h, t, layer.attn.k.w, nullptr, ws + L.k, scratch, p, g);
    linear(h, t, layer.attn.v.w, layer.attn.v.bias(), ws + L.v, scratch, p, g);
    multi_head_attention(ws + L.q, t, ws + L.k, ws + L.v, t, d, c.encoder_heads,
                         c.encoder_head_dim(), -1, ws + L.scores, ws + L.attn, p, g);
    linear(ws + L.attn, t, layer.attn.out.w, layer.attn.out.bias(), ws + L.proj, scratch, p, g);
    add_inplace(x, ws + L.proj, td);
    // MLP sub-block.
    layer_norm(x, t, d, layer.mlp_ln, h, p);
    linear(h, t, layer.fc1.w, layer.fc1.bias(), ws + L.mlp, scratch, p, g);
    gelu_inplace(ws + L.mlp, t, c.encoder_ffn, p);
    linear(ws + L.mlp, t, layer.fc2.w, layer.fc2.bias(), ws + L.proj, scratch, p, g);
    add_inplace(x, ws + L.proj, td);
  }
  layer_norm(x, t, d, w.encoder_ln, out, p);
}

}  // namespace earshot::models::whisper
