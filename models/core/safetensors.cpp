#include "models/core/safetensors.hpp"

#include "models/core/half.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace earshot::models {
namespace {

// Headers of real checkpoints are a few hundred KiB; anything near this is corruption.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr std::size_t kMaxRank = 8;

struct DTypeEntry {
  const char* name;
  DType dtype;
  std::size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {"F64", DType::F64, 8},   {"F32", DType::F32, 4}, {"F16", DType::F16, 2},
    {"BF16", DType::BF16, 2}, {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},   {"I8", DType::I8, 1},   {"U8", DType::U8, 1},
    {"U16", DType::U16, 2},   {"U32", DType::U32, 4}, {"U64", DType::U64, 8},
    {"BOOL", DType::BOOL, 1},
};

template <typename T>
T load_le(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // x86/ARM little-endian hosts; unaligned-safe
  return value;
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  return "?";
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.label_ = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw WeightFileError("cannot open weight file '" + file.label_ + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw WeightFileError("'" + file.label_ + "' is not a regular file");
  }
  file.mapped_size_ = static_cast<std::size_t>(st.st_size);
  if (file.mapped_size_ > 0) {
    void* p = ::mmap(nullptr, file.mapped_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw WeightFileError("cannot map '" + file.label_ + "': " + std::strerror(errno));
    }
    file.mapped_ = p;
    file.base_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
  file.size_ = file.mapped_size_;
  file.parse();
  return file;
}

SafetensorsFile SafetensorsFile::from_bytes(std::span<const std::byte> bytes, std::string label) {
  SafetensorsFile file;
  file.label_ = std::move(label);
  file.owned_.assign(bytes.begin(), bytes.end());
  file.base_ = file.owned_.data();
  file.size_ = file.owned_.size();
  file.parse();
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept {
  *this = std::move(o);
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this == &o) return *this;
  if (mapped_ != nullptr) ::munmap(mapped_, mapped_size_);
  label_ = std::move(o.label_);
  mapped_ = std::exchange(o.mapped_, nullptr);
  mapped_size_ = std::exchange(o.mapped_size_, 0);
  // A moved vector keeps its buffer, so base_/data_ stay valid for owned images too.
  owned_ = std::move(o.owned_);
  base_ = std::exchange(o.base_, nullptr);
  size_ = std::exchange(o.size_, 0);
  data_ = std::exchange(o.data_, nullptr);
  data_size_ = std::exchange(o.data_size_, 0);
  tensors_ = std::move(o.tensors_);
  metadata_ = std::move(o.metadata_);
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped_ != nullptr) ::munmap(mapped_, mapped_size_);
}

void SafetensorsFile::parse() {
  auto fail = [&](const std::string& why) -> void {
    throw WeightFileError("corrupt safetensors file '" + label_ + "': " + why);
  };
  if (size_ < 8)
    fail("shorter than the 8-byte header length (" + std::to_string(size_) + " bytes)");
  const std::uint64_t header_len = load_le<std::uint64_t>(base_);
  if (header_len > kMaxHeaderBytes)
    fail("header length " + std::to_string(header_len) + " is implausible");
  if (header_len > size_ - 8)
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(size_) + " bytes): truncated?");
  const char* header = reinterpret_cast<const char*>(base_ + 8);
  data_ = base_ + 8 + header_len;
  data_size_ = size_ - 8 - header_len;

  nlohmann::json root = nlohmann::json::parse(header, header + header_len, nullptr, false);
  if (root.is_discarded()) fail("the header is not valid JSON");
  if (!root.is_object()) fail("the header is not a JSON object");

  struct Span {
    std::size_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const auto& value = it.value();
    if (key == "__metadata__") {
      if (!value.is_object()) fail("__metadata__ is not an object");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + key + "': ";
    if (!value.is_object()) fail(where + "entry is not an object");
    const auto dtype_it = value.find("dtype");
    const auto shape_it = value.find("shape");
    const auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || !dtype_it->is_string()) fail(where + "missing dtype");
    if (shape_it == value.end() || !shape_it->is_array()) fail(where + "missing shape");
    if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2)
      fail(where + "data_offsets must be [begin, end]");

    TensorInfo info;
    info.name = key;
    const std::string dtype = dtype_it->get<std::string>();
    std::size_t elem = 0;
    for (const auto& e : kDTypes) {
      if (dtype == e.name) {
        info.dtype = e.dtype;
        elem = e.size;
      }
    }
    if (elem == 0) fail(where + "unsupported dtype '" + dtype + "'");
    if (shape_it->size() > kMaxRank)
      fail(where + "rank " + std::to_string(shape_it->size()) + " too large");
    std::uint64_t numel = 1;
    for (const auto& d : *shape_it) {
      if (!d.is_number_unsigned()) fail(where + "shape entries must be non-negative integers");
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim / elem)
        fail(where + "shape overflows");
      numel *= dim;
      info.shape.push_back(static_cast<std::int64_t>(dim));
    }
    for (const auto& o : *offsets_it)
      if (!o.is_number_unsigned()) fail(where + "data_offsets must be non-negative integers");
    const std::uint64_t begin = (*offsets_it)[0].get<std::uint64_t>();
    const std::uint64_t end = (*offsets_it)[1].get<std::uint64_t>();
    if (begin > end) fail(where + "data_offsets begin after they end");
    if (end > data_size_)
      fail(where + "data ends at byte " + std::to_string(end) + " but the data section has only " +
           std::to_string(data_size_) + " bytes: truncated?");
    if (end - begin != numel * elem)
      fail(where + "holds " + std::to_string(end - begin) + " bytes but shape " +
           info.shape_string() + " of " + dtype + " needs " + std::to_string(numel * elem));
    info.begin = static_cast<std::size_t>(begin);
    info.end = static_cast<std::size_t>(end);
    auto [pos, inserted] = tensors_.emplace(key, std::move(info));
    if (!inserted) fail(where + "appears twice");
    spans.push_back({pos->second.begin, pos->second.end, &pos->first});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end && spans[i].begin != spans[i].end)
      fail("tensors '" + *spans[i - 1].name + "' and '" + *spans[i].name + "' overlap");
  }
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw WeightFileError("weight file '" + label_ + "' has no tensor '" + name + "'");
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) out.push_back(name);
  return out;
}

std::span<const std::byte> SafetensorsFile::bytes(const std::string& name) const {
  const auto& t = info(name);
  return {data_ + t.begin, t.end - t.begin};
}

void SafetensorsFile::expect_shape(const std::string& name,
                                   std::span<const std::int64_t> shape) const {
  const auto& t = info(name);
  if (!std::equal(t.shape.begin(), t.shape.end(), shape.begin(), shape.end())) {
    TensorInfo want;
    want.shape.assign(shape.begin(), shape.end());
    throw WeightFileError("weight file '" + label_ + "': tensor '" + name + "' has shape " +
                          t.shape_string() + ", expected " + want.shape_string());
  }
}

void SafetensorsFile::read_f32(const std::string& name, std::span<float> dst,
                               std::span<const std::int64_t> expected_shape) const {
  const auto& t = info(name);
  if (!expected_shape.empty()) expect_shape(name, expected_shape);
  if (static_cast<std::int64_t>(dst.size()) != t.numel())
    throw WeightFileError("weight file '" + label_ + "': tensor '" + name + "' has " +
                          std::to_string(t.numel()) + " elements, destination holds " +
                          std::to_string(dst.size()));
  const std::byte* p = data_ + t.begin;
  const std::size_t n = dst.size();
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(dst.data(), p, n * 4);
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_le<std::uint16_t>(p + 2 * i));
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_le<std::uint16_t>(p + 2 * i));
      break;
    case DType::F64:
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load_le<double>(p + 8 * i));
      break;
    default:
      throw WeightFileError("weight file '" + label_ + "': tensor '" + name + "' is " +
                            dtype_name(t.dtype) + ", expected a floating-point dtype");
  }
}

void SafetensorsFile::read_i32(const std::string& name, std::span<std::int32_t> dst,
                               std::span<const std::int64_t> expected_shape) const {
  const auto& t = info(name);
  if (!expected_shape.empty()) expect_shape(name, expected_shape);
  if (static_cast<std::int64_t>(dst.size()) != t.numel())
    throw WeightFileError("weight file '" + label_ + "': tensor '" + name + "' has " +
                          std::to_string(t.numel()) + " elements, destination holds " +
                          std::to_string(dst.size()));
  const std::byte* p = data_ + t.begin;
  auto narrow = [&](auto v) -> std::int32_t {
    if (v < std::numeric_limits<std::int32_t>::min() ||
        v > std::numeric_limits<std::int32_t>::max())
      throw WeightFileError("weight file '" + label_ + "': tensor '" + name +
                            "' has a value out of int32 range");
    return static_cast<std::int32_t>(v);
  };
  for (std::size_t i = 0; i < dst.size(); ++i) {
    switch (t.dtype) {
      case DType::I32:
        dst[i] = load_le<std::int32_t>(p + 4 * i);
        break;
      case DType::I64:
        dst[i] = narrow(load_le<std::int64_t>(p + 8 * i));
        break;
      case DType::I16:
        dst[i] = load_le<std::int16_t>(p + 2 * i);
        break;
      case DType::I8:
        dst[i] = load_le<std::int8_t>(p + i);
        break;
      case DType::U8:
        dst[i] = load_le<std::uint8_t>(p + i);
        break;
      case DType::U16:
        dst[i] = load_le<std::uint16_t>(p + 2 * i);
        break;
      case DType::U32:
        dst[i] = narrow(static_cast<std::int64_t>(load_le<std::uint32_t>(p + 4 * i)));
        break;
      default:
        throw WeightFileError("weight file '" + label_ + "': tensor '" + name + "' is " +
                              dtype_name(t.dtype) + ", expected an integer dtype");
    }
  }
}

std::vector<float> SafetensorsFile::load_f32(const std::string& name) const {
  std::vector<float> out(static_cast<std::size_t>(info(name).numel()));
  read_f32(name, out);
  return out;
}

std::vector<std::int32_t> SafetensorsFile::load_i32(const std::string& name) const {
  std::vector<std::int32_t> out(static_cast<std::size_t>(info(name).numel()));
  read_i32(name, out);
  return out;
}

}  // namespace earshot::models
