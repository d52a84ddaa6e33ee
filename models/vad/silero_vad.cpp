#include "models/vad/silero_vad.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace earshot::models::vad {
namespace {

// Activation sizes (channels x frames) after each encoder layer: 128x4, 64x2, 64x1, 128x1.
constexpr int kMagSize = kBins * kFrames;
constexpr int kMaxActivation = 128 * kFrames;
constexpr int kMaxCols = kBins * 3 * kFrames;  // the widest im2col: conv1
constexpr int kGates = 4 * kHidden;

// Work buffer layout (floats).
constexpr int kOffMag = 0;
constexpr int kOffActA = kOffMag + kMagSize;
constexpr int kOffActB = kOffActA + kMaxActivation;
constexpr int kOffCols = kOffActB + kMaxActivation;
constexpr int kOffGates = kOffCols + kMaxCols;
constexpr int kWorkFloats = kOffGates + kGates;

float dot(const float* a, const float* b, int n) {
  return Eigen::Map<const Eigen::VectorXf>(a, n).dot(Eigen::Map<const Eigen::VectorXf>(b, n));
}

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

int conv_out_len(int len, int stride) {
  return (len + 2 - 3) / stride + 1;
}

// Conv1d(kernel 3, padding 1, stride) + bias + ReLU on x [in, len] -> y [out, out_len].
// im2col: cols[t] holds the in*3 inputs that output frame t sees, in the weight's (in, k)
// order, so every output is one contiguous dot product.
int conv_relu(const ConvWeights& c, const float* x, int len, float* cols, float* y) {
  const int out_len = conv_out_len(len, c.stride);
  const int row = c.in * 3;
  for (int t = 0; t < out_len; ++t) {
    float* col = cols + t * row;
    for (int i = 0; i < c.in; ++i) {
      for (int k = 0; k < 3; ++k) {
        const int src = t * c.stride + k - 1;
        col[i * 3 + k] = (src >= 0 && src < len) ? x[i * len + src] : 0.0f;
      }
    }
  }
  const float* weight = c.weight.data();
  const float* bias = c.bias.data();
  for (int o = 0; o < c.out; ++o) {
    for (int t = 0; t < out_len; ++t) {
      const float v = bias[o] + dot(weight + o * row, cols + t * row, row);
      y[o * out_len + t] = v > 0.0f ? v : 0.0f;
    }
  }
  return out_len;
}

}  // namespace

SileroVad::SileroVad(const SileroWeights& weights, rt::MemoryBudget& budget)
    : w_(weights),
      input_(budget.reserve_array<float>("vad.input", kInput + kPadRight)),
      work_(budget.reserve_array<float>("vad.workspace", kWorkFloats)),
      state_(budget.reserve_array<float>("vad.state", 2 * kHidden)) {}

void SileroVad::reset() {
  std::fill(input_.as<float>().begin(), input_.as<float>().end(), 0.0f);
  std::fill(work_.as<float>().begin(), work_.as<float>().end(), 0.0f);
  std::fill(state_.as<float>().begin(), state_.as<float>().end(), 0.0f);
}

std::span<const float> SileroVad::stft_magnitude() const {
  return work_.as<float>().subspan(kOffMag, kMagSize);
}
std::span<const float> SileroVad::encoder_output() const {
  // conv4's output lands in buffer B (A -> B -> A -> B).
  return work_.as<float>().subspan(kOffActB, kHidden);
}
std::span<const float> SileroVad::hidden() const {
  return state_.as<float>().first(kHidden);
}
std::span<const float> SileroVad::cell() const {
  return state_.as<float>().subspan(kHidden, kHidden);
}

void SileroVad::stft_magnitude_into(float* mag) const {
  // The basis already holds the window; each frame is a contiguous slice of the padded input.
  const float* x = input_.as<float>().data();
  const float* basis = w_.stft_basis.data();
  for (int b = 0; b < kBins; ++b) {
    const float* re_row = basis + b * kFftSize;
    const float* im_row = basis + (b + kBins) * kFftSize;
    for (int t = 0; t < kFrames; ++t) {
      const float* frame = x + t * kHop;
      const float re = dot(re_row, frame, kFftSize);
      const float im = dot(im_row, frame, kFftSize);
      mag[b * kFrames + t] = std::sqrt(re * re + im * im);
    }
  }
}

float SileroVad::process(std::span<const float, kWindow> samples) {
  float* x = input_.as<float>().data();
  // Context: the last 64 samples of the previous call's input move to the front.
  std::memmove(x, x + kWindow, sizeof(float) * kContext);
  for (int i = 0; i < kWindow; ++i) {
    const float s = samples[i];
    x[kContext + i] = std::isfinite(s) ? s : 0.0f;
  }
  // Reflect padding on the right (the edge sample is not repeated).
  for (int j = 0; j < kPadRight; ++j) x[kInput + j] = x[kInput - 2 - j];

  float* work = work_.as<float>().data();
  float* mag = work + kOffMag;
  float* a = work + kOffActA;
  float* b = work + kOffActB;
  float* cols = work + kOffCols;
  float* gates = work + kOffGates;

  stft_magnitude_into(mag);
  int len = conv_relu(w_.conv[0], mag, kFrames, cols, a);
  len = conv_relu(w_.conv[1], a, len, cols, b);
  len = conv_relu(w_.conv[2], b, len, cols, a);
  len = conv_relu(w_.conv[3], a, len, cols, b);  // [128, 1]: the LSTM input

  // LSTMCell, PyTorch gate order (input, forget, cell, output).
  float* h = state_.as<float>().data();
  float* c = h + kHidden;
  const float* w_ih = w_.lstm_w_ih.data();
  const float* w_hh = w_.lstm_w_hh.data();
  const float* b_ih = w_.lstm_b_ih.data();
  const float* b_hh = w_.lstm_b_hh.data();
  for (int j = 0; j < kGates; ++j) {
    gates[j] = b_ih[j] + b_hh[j] + dot(w_ih + j * kHidden, b, kHidden) +
               dot(w_hh + j * kHidden, h, kHidden);
  }
  for (int j = 0; j < kHidden; ++j) {
    const float in_gate = sigmoid(gates[j]);
    const float forget_gate = sigmoid(gates[kHidden + j]);
    const float cell_gate = std::tanh(gates[2 * kHidden + j]);
    const float out_gate = sigmoid(gates[3 * kHidden + j]);
    c[j] = forget_gate * c[j] + in_gate * cell_gate;
    h[j] = out_gate * std::tanh(c[j]);
  }

  // Decoder: ReLU(h) -> 1x1 conv -> sigmoid (the mean over one frame is the value itself).
  const float* fw = w_.final_w.data();
  float logit = w_.final_b.data()[0];
  for (int j = 0; j < kHidden; ++j) logit += fw[j] * (h[j] > 0.0f ? h[j] : 0.0f);
  return sigmoid(logit);
}

}  // namespace earshot::models::vad
