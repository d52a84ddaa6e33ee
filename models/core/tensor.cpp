#include "models/core/tensor.hpp"

#include <stdexcept>

namespace earshot::models {
namespace {
std::size_t element_count(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("negative tensor dimension");
    n *= static_cast<std::size_t>(d);
  }
  return n;
}
}  // namespace

Tensor::Tensor(rt::MemoryBudget& budget, std::string name, std::vector<std::int64_t> shape)
    : storage_(budget.reserve_array<float>(std::move(name), element_count(shape))),
      shape_(std::move(shape)) {}

std::int64_t Tensor::numel() const {
  return static_cast<std::int64_t>(element_count(shape_));
}

Tensor load_tensor_f32(const SafetensorsFile& file, const std::string& tensor_name,
                       rt::MemoryBudget& budget, const std::string& budget_name,
                       std::span<const std::int64_t> expected_shape) {
  const auto& info = file.info(tensor_name);
  if (!expected_shape.empty()) file.expect_shape(tensor_name, expected_shape);
  Tensor t(budget, budget_name, info.shape);
  file.read_f32(tensor_name, t.span());
  return t;
}

}  // namespace earshot::models
