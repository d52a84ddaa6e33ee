// Feeds arbitrary bytes to the ONNX weight reader (and the protobuf wire-format reader under
// it): it must either accept them or throw WeightFileError, and every accepted floating-point
// tensor must either convert within the image or be refused with WeightFileError.
#include "models/core/onnx_file.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace earshot::models;
  try {
    const auto file = OnnxFile::from_bytes(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
    (void)file.opset();
    for (const auto& name : file.names()) {
      const auto& tensor = file.tensor(name);
      (void)tensor.shape_string();
      try {
        (void)file.load_f32(name);
      } catch (const WeightFileError&) {
      }
    }
  } catch (const WeightFileError&) {
  }
  return 0;
}
