// Reads the weight tensors of an ONNX model file without an ONNX runtime.
//
// Collected tensors: the graph's initializers and the outputs of its Constant nodes, and the same
// inside the subgraphs of control-flow nodes (If branches, Loop/Scan bodies) up to a small
// nesting depth. Each is keyed by its name (the Constant node's output name, as exporters give
// it, e.g. `If_0_then_branch__Inline_0__encoder.0.reparam_conv.weight`). Only the wire format
// is parsed (models/core/protobuf_reader.hpp); every size is checked, so a truncated or corrupt
// file is a WeightFileError naming the file, the message and the offset.
#pragma once

#include "models/core/safetensors.hpp"  // WeightFileError

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace earshot::models {

// TensorProto.DataType values used here.
enum class OnnxDataType : std::int32_t {
  kFloat = 1,
  kInt32 = 6,
  kInt64 = 7,
  kFloat16 = 10,
  kDouble = 11,
  kBFloat16 = 16,
};

struct OnnxTensor {
  std::string name;
  std::string graph;  // where it was found: "main", "main/If_0.then_branch", ...
  std::vector<std::int64_t> dims;
  std::int32_t data_type = 0;
  std::span<const std::byte> raw_data;  // into the file image; empty when typed fields are used
  std::vector<float> float_data;        // TensorProto.float_data
  std::vector<double> double_data;      // TensorProto.double_data
  std::size_t int_data_count = 0;       // entries of int32_data / int64_data (not decoded)
  bool external = false;                // data_location == EXTERNAL

  std::int64_t numel() const;
  std::string shape_string() const;
};

class OnnxFile {
 public:
  // Reads and parses a file. Throws WeightFileError.
  static OnnxFile open(const std::filesystem::path& path);
  // Parses an in-memory image (copied); used by the fuzzer and tests.
  static OnnxFile from_bytes(std::span<const std::byte> bytes, std::string label = "<memory>");

  OnnxFile(OnnxFile&&) noexcept = default;
  OnnxFile& operator=(OnnxFile&&) noexcept = default;

  const std::string& label() const { return label_; }
  std::int64_t ir_version() const { return ir_version_; }
  // The default-domain opset version (0 when absent).
  std::int64_t opset() const { return opset_; }

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws WeightFileError naming the file and the tensor when it is missing.
  const OnnxTensor& tensor(const std::string& name) const;
  std::vector<std::string> names() const;

  // Converts a floating-point tensor (FLOAT, FLOAT16, BFLOAT16, DOUBLE; raw_data or the typed
  // field) to float32 into `dst`, whose size must equal the element count. If `expected_shape`
  // is non-empty the dims must equal it. Throws WeightFileError otherwise.
  void read_f32(const std::string& name, std::span<float> dst,
                std::span<const std::int64_t> expected_shape = {}) const;
  std::vector<float> load_f32(const std::string& name) const;

 private:
  OnnxFile() = default;
  void parse();
  void parse_graph(std::span<const std::byte> bytes, const std::string& where, int depth);
  void parse_node(std::span<const std::byte> bytes, const std::string& where, int depth);
  OnnxTensor parse_tensor(std::span<const std::byte> bytes, const std::string& where) const;
  void add_tensor(OnnxTensor tensor);

  std::string label_;
  std::vector<std::byte> image_;
  std::int64_t ir_version_ = 0;
  std::int64_t opset_ = 0;
  std::map<std::string, OnnxTensor> tensors_;
};

}  // namespace earshot::models
