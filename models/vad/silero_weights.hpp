// The weights of Silero VAD's 16 kHz model, held in budgeted memory.
//
// Two sources hold the same tensors: a safetensors export (key names `stft_conv.weight`,
// `conv1..4.*`, `lstm_cell.*`, `final_conv.*`) and the official `silero_vad.onnx`, whose 16 kHz
// weights are Constant nodes inside the top-level If node's then_branch. Both are checked
// against the shapes below, so a file of another architecture is a clear WeightFileError.
#pragma once

#include "models/core/tensor.hpp"
#include "rt/memory_budget.hpp"

#include <filesystem>
#include <string>

namespace earshot::models::vad {

// Model dimensions (16 kHz model).
inline constexpr int kSampleRate = 16000;
inline constexpr int kWindow = 512;                // new samples per call
inline constexpr int kContext = 64;                // samples carried over from the previous call
inline constexpr int kInput = kWindow + kContext;  // 576
inline constexpr int kPadRight = 64;               // reflect padding before the STFT
inline constexpr int kFftSize = 256;               // STFT kernel (no window: folded into the basis)
inline constexpr int kHop = 128;
inline constexpr int kBins = kFftSize / 2 + 1;                              // 129
inline constexpr int kFrames = (kInput + kPadRight - kFftSize) / kHop + 1;  // 4
inline constexpr int kHidden = 128;                                         // LSTM size

// One Conv1d(in -> out, kernel 3, padding 1, stride) with bias.
struct ConvWeights {
  int in = 0;
  int out = 0;
  int stride = 1;
  Tensor weight;  // [out, in, 3]
  Tensor bias;    // [out]
};

struct SileroWeights {
  Tensor stft_basis;  // [2 * 129, 1, 256]: rows 0..128 real part, 129..257 imaginary part
  ConvWeights conv[4];
  Tensor lstm_w_ih;  // [4 * 128, 128], gate order i, f, g, o
  Tensor lstm_w_hh;  // [4 * 128, 128]
  Tensor lstm_b_ih;  // [512]
  Tensor lstm_b_hh;  // [512]
  Tensor final_w;    // [1, 128, 1]
  Tensor final_b;    // [1]

  std::size_t bytes() const;
};

// Loads the weights from `path`: `.onnx` is read as the official ONNX release, anything else as
// a safetensors export. Throws WeightFileError naming the file and the tensor on any problem.
SileroWeights load_silero_weights(const std::filesystem::path& path, rt::MemoryBudget& budget);

// The official ONNX release: tensors `If_0_then_branch__Inline_0__<module>`.
SileroWeights load_silero_weights_onnx(const std::filesystem::path& path, rt::MemoryBudget& budget);
inline constexpr const char* kOnnx16kPrefix = "If_0_then_branch__Inline_0__";
// The ONNX module name of a safetensors key (conv2.bias -> encoder.1.reparam_conv.bias).
std::string onnx_module_name(const std::string& key);

SileroWeights load_silero_weights_safetensors(const std::filesystem::path& path,
                                              rt::MemoryBudget& budget);

}  // namespace earshot::models::vad
