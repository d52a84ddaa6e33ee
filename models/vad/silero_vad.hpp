// Silero VAD v6 (16 kHz), one 512-sample window per call, LSTM state carried between calls.
//
//   576 samples (64 carried + 512 new) -> reflect-pad 64 right -> STFT conv (|re + i im|, 129x4)
//   -> 4 x (Conv1d k3 + ReLU): 129->128, ->64 (s2), ->64 (s2), ->128   => [128, 1]
//   -> LSTMCell(128, 128) with (h, c) carried -> ReLU -> 1x1 conv -> sigmoid = speech probability
//
// All state and workspaces are reserved from the memory budget at construction; process()
// allocates nothing, locks nothing and may run on the audio thread.
#pragma once

#include "models/vad/silero_weights.hpp"
#include "rt/memory_budget.hpp"

#include <span>

namespace earshot::models::vad {

class SileroVad {
 public:
  // `weights` must outlive the detector; several detectors may share one set of weights.
  SileroVad(const SileroWeights& weights, rt::MemoryBudget& budget);

  // Consumes the next 512 samples (16 kHz, nominally in [-1, 1]) and returns the probability
  // that they contain speech. Non-finite samples are treated as silence (0) so that a NaN never
  // poisons the carried LSTM state.
  float process(std::span<const float, kWindow> samples);

  // Back to the start of a stream: zero context and LSTM state.
  void reset();

  // Intermediates of the last call, for tests and diagnostics.
  std::span<const float> input_with_context() const { return input_.as<float>().first(kInput); }
  std::span<const float> stft_magnitude() const;  // [129, 4] row-major (bin, frame)
  std::span<const float> encoder_output() const;  // [128]
  std::span<const float> hidden() const;          // h [128]
  std::span<const float> cell() const;            // c [128]

  // Bytes of state and workspace reserved per detector (weights not included).
  std::size_t workspace_bytes() const { return input_.bytes() + work_.bytes() + state_.bytes(); }

 private:
  void stft_magnitude_into(float* mag) const;

  const SileroWeights& w_;
  rt::Reservation input_;  // [576 + 64]: context + window, then reflect padding
  rt::Reservation work_;   // activations and the im2col buffer
  rt::Reservation state_;  // h, c
};

}  // namespace earshot::models::vad
