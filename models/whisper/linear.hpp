// Weight matrices kept in the file's precision (F32 or F16) and the matrix products over them.
//
// F16 weights stay F16 in memory (half the bytes) and are widened to F32 on the fly:
//  - many input rows (encoder, prompts): a panel of kF16PanelRows weight rows is converted into a
//    preallocated F32 scratch and multiplied with Eigen's GEMM, so the conversion cost is
//    amortised over all input rows;
//  - few input rows (one token per decoder step): a fused kernel converts 8 halves at a time in
//    registers (F16C) and accumulates the dot products directly, reading each weight once.
// Compute is always F32.
#pragma once

#include "models/core/gemm.hpp"
#include "models/whisper/parallel.hpp"
#include "rt/memory_budget.hpp"

#include <cstddef>
#include <cstdint>

namespace earshot::models::whisper {

enum class WeightType { F32, F16 };

struct WeightMatrix {
  WeightType type = WeightType::F32;
  int rows = 0;  // output features
  int cols = 0;  // input features
  rt::Reservation storage;

  const float* f32() const { return static_cast<const float*>(storage.data()); }
  const std::uint16_t* f16() const { return static_cast<const std::uint16_t*>(storage.data()); }
  float* mutable_f32() { return static_cast<float*>(storage.data()); }
  std::uint16_t* mutable_f16() { return static_cast<std::uint16_t*>(storage.data()); }
  static std::size_t bytes_for(WeightType type, int rows, int cols) {
    return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) *
           (type == WeightType::F16 ? 2 : 4);
  }
};

// Rows of an F16 weight converted per GEMM panel.
inline constexpr int kF16PanelRows = 128;
// Floats of scratch `linear` needs for weights with at most `max_cols` input features.
inline std::size_t linear_scratch_floats(int max_cols) {
  return static_cast<std::size_t>(kF16PanelRows) * static_cast<std::size_t>(max_cols);
}

// y[n, w.rows] = x[n, w.cols] * w^T (+ bias[w.rows] when bias != nullptr).
// x and y are contiguous row-major and must not overlap. `scratch` holds
// parallel_size(parallel) * linear_scratch_floats(w.cols) floats (used for F16 weights only).
// With a Parallel, the output features are split between the workers.
// `gemm`: parallel_size(parallel) workspaces (models/core/gemm.hpp), one per worker; with them
// the many-row products pack into those instead of Eigen's heap blocks (no heap call).
void linear(const float* x, int n, const WeightMatrix& w, const float* bias, float* y,
            float* scratch, Parallel* parallel = nullptr, GemmWorkspace* gemm = nullptr);

// One row of the weight matrix widened to F32 (embedding lookup).
void weight_row_f32(const WeightMatrix& w, int row, float* out);

}  // namespace earshot::models::whisper
