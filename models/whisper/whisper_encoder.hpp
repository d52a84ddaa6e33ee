// Whisper's audio encoder: log-mel [n_mels, 3000] -> audio features [1500, d].
//
//   conv1 (k3, p1) + GELU -> conv2 (k3, stride 2, p1) + GELU -> + sinusoidal positions
//   -> N pre-LN blocks (self-attention, MLP) -> final LayerNorm
//
// All activations and the GEMMs' packing buffers (one models::GemmWorkspace per worker) live in
// one workspace reserved from the budget at construction; forward() makes no heap call.
#pragma once

#include "models/whisper/parallel.hpp"
#include "models/whisper/whisper_weights.hpp"

#include <vector>

namespace earshot::models::whisper {

class WhisperEncoder {
 public:
  // `parallel` (optional, not owned) splits the work between its threads; per-worker scratch is
  // reserved for its size.
  WhisperEncoder(const WhisperModel& model, rt::MemoryBudget& budget, Parallel* parallel = nullptr);

  // Bytes the workspace of this model's encoder takes (for plans).
  static std::size_t workspace_bytes(const WhisperConfig& config, int workers = 1);

  // mel: [n_mels, n_frames] row-major, n_frames even and at most 2 * n_audio_ctx (the full
  // 30 s window). Fewer frames run the encoder on a reduced audio context: faster for short
  // live buffers, at a quality cost since the model was trained on full windows.
  // out: [n_frames / 2, d_model]. Throws std::invalid_argument on a shape mismatch.
  void forward(const float* mel, int n_mels, int n_frames, float* out);

  // The per-worker GEMM workspaces (one per worker of the Parallel given at construction), for
  // a decoder that runs on the same threads between encoder passes to pack into as well
  // (WhisperDecoding::set_gemm_workspaces) instead of reserving its own 12 MB per worker.
  GemmWorkspace* gemm_workspaces() { return gemm_.data(); }

 private:
  struct Layout;
  const WhisperModel& model_;
  Parallel* parallel_;
  rt::Reservation workspace_;
  std::vector<GemmWorkspace> gemm_;  // one per worker, over workspace_
};

}  // namespace earshot::models::whisper
