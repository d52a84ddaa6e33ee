// Reader for safetensors weight files (the Hugging Face format), memory-mapped.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON, then the raw tensor bytes.
// Every field is checked before use (header length against the file size, the JSON, dtypes,
// shapes, byte sizes against shapes, offsets against the data size, overlaps), so a corrupt or
// truncated file is a clear WeightFileError naming the file and the problem, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::models {

class WeightFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, BOOL };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;  // byte offsets within the data section
  std::size_t end = 0;

  std::int64_t numel() const;
  std::string shape_string() const;  // "[2, 3]"
};

class SafetensorsFile {
 public:
  // Maps and validates a file. Throws WeightFileError.
  static SafetensorsFile open(const std::filesystem::path& path);
  // Validates an in-memory image (copied); used by the fuzzer and tests.
  static SafetensorsFile from_bytes(std::span<const std::byte> bytes,
                                    std::string label = "<memory>");

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& label() const { return label_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws WeightFileError naming the file and the tensor when it is missing.
  const TensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The raw little-endian bytes of a tensor (may be unaligned: copy, do not cast).
  std::span<const std::byte> bytes(const std::string& name) const;

  // Converts a floating-point tensor (F32, F16, BF16, F64) to float32 into `dst`, whose size must
  // equal the tensor's element count. If `expected_shape` is non-empty the tensor's shape must
  // equal it. Throws WeightFileError otherwise.
  void read_f32(const std::string& name, std::span<float> dst,
                std::span<const std::int64_t> expected_shape = {}) const;
  // Converts an integer tensor (I32, I64, I16, I8, U8, U16, U32) to int32, range-checked.
  void read_i32(const std::string& name, std::span<std::int32_t> dst,
                std::span<const std::int64_t> expected_shape = {}) const;

  // Convenience for tests and tools (allocate).
  std::vector<float> load_f32(const std::string& name) const;
  std::vector<std::int32_t> load_i32(const std::string& name) const;

  // Throws a WeightFileError unless the tensor has exactly this shape.
  void expect_shape(const std::string& name, std::span<const std::int64_t> shape) const;

 private:
  SafetensorsFile() = default;
  void parse();

  std::string label_;
  // Either a mapping (mapped_ != nullptr) or an owned copy.
  void* mapped_ = nullptr;
  std::size_t mapped_size_ = 0;
  std::vector<std::byte> owned_;
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  const std::byte* data_ = nullptr;  // start of the data section
  std::size_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace earshot::models
