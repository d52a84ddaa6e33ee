// Every tensor of a Hugging Face EnCodec checkpoint, by name and shape, in the published layout
// (weight_norm models: <conv>.weight_g / weight_v; time_group_norm models: <conv>.weight and
// <layer>.norm.{weight,bias}; quantizer training buffers included). Used to build random-weight
// models for benchmarks and to check that a loader reads exactly the published set.
#pragma once

#include "models/encodec/encodec_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace earshot::encodec {

struct ParameterShape {
  std::string name;
  std::vector<std::int64_t> shape;
};

std::vector<ParameterShape> encodec_parameter_shapes(const EncodecConfig& config);

}  // namespace earshot::encodec
