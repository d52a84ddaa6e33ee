// Float32 tensors whose storage is a named reservation from the run's memory budget.
#pragma once

#include "models/core/safetensors.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace earshot::models {

class Tensor {
 public:
  Tensor() = default;
  // Reserves numel(shape) floats under `name`, zero-filled.
  Tensor(rt::MemoryBudget& budget, std::string name, std::vector<std::int64_t> shape);

  float* data() { return storage_.as<float>().data(); }
  const float* data() const { return storage_.as<float>().data(); }
  std::span<float> span() { return storage_.as<float>(); }
  std::span<const float> span() const { return storage_.as<float>(); }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }
  std::size_t rank() const { return shape_.size(); }
  std::int64_t numel() const;
  bool empty() const { return storage_.empty(); }
  std::size_t bytes() const { return storage_.bytes(); }

 private:
  rt::Reservation storage_;
  std::vector<std::int64_t> shape_;
};

// Loads a floating-point tensor (F32/F16/BF16 upcast to F32) into budgeted memory, reserved under
// `budget_name`. Checks the shape against `expected_shape` when one is given.
Tensor load_tensor_f32(const SafetensorsFile& file, const std::string& tensor_name,
                       rt::MemoryBudget& budget, const std::string& budget_name,
                       std::span<const std::int64_t> expected_shape = {});

}  // namespace earshot::models
