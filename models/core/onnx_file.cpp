#include "models/core/onnx_file.hpp"

#include "models/core/half.hpp"
#include "models/core/protobuf_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>

namespace earshot::models {
namespace {

using protobuf::Field;
using protobuf::Reader;
using protobuf::WireType;

// Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto).
namespace model_field {
constexpr std::uint32_t kIrVersion = 1, kGraph = 7, kOpsetImport = 8;
}
namespace opset_field {
constexpr std::uint32_t kDomain = 1, kVersion = 2;
}
namespace graph_field {
constexpr std::uint32_t kNode = 1, kInitializer = 5;
}
namespace node_field {
constexpr std::uint32_t kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5;
}
namespace attribute_field {
constexpr std::uint32_t kName = 1, kTensor = 5, kGraph = 6, kGraphs = 11;
}
namespace tensor_field {
constexpr std::uint32_t kDims = 1, kDataType = 2, kSegment = 3, kFloatData = 4, kInt32Data = 5,
                        kInt64Data = 7, kName = 8, kRawData = 9, kDoubleData = 10,
                        kDataLocation = 14;
}

// Subgraphs nest (an If inside a Loop body...); real models stay shallow. The limit bounds the
// recursion on hostile input.
constexpr int kMaxGraphDepth = 4;
// No tensor in a file of a few GB can exceed this many elements; it also keeps products of
// dims far from overflow.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;

// Counts the entries of a packed repeated varint field (validating each).
std::size_t count_packed_varints(const Reader& reader, std::span<const std::byte> bytes) {
  std::size_t pos = 0, n = 0;
  while (pos < bytes.size()) {
    (void)protobuf::decode_varint(reader, bytes, pos);
    ++n;
  }
  return n;
}

const char* data_type_name(std::int32_t t) {
  switch (static_cast<OnnxDataType>(t)) {
    case OnnxDataType::kFloat:
      return "FLOAT";
    case OnnxDataType::kInt32:
      return "INT32";
    case OnnxDataType::kInt64:
      return "INT64";
    case OnnxDataType::kFloat16:
      return "FLOAT16";
    case OnnxDataType::kDouble:
      return "DOUBLE";
    case OnnxDataType::kBFloat16:
      return "BFLOAT16";
  }
  return "another type";
}

}  // namespace

std::int64_t OnnxTensor::numel() const {
  std::int64_t n = 1;
  for (auto d : dims) n *= d;  // dims validated at parse time: no overflow
  return n;
}

std::string OnnxTensor::shape_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

OnnxFile OnnxFile::open(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw WeightFileError(path.string() + ": cannot open ONNX file");
  const std::streamoff size = in.tellg();
  if (size < 0) throw WeightFileError(path.string() + ": cannot read ONNX file size");
  OnnxFile file;
  file.label_ = path.string();
  file.image_.resize(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(file.image_.data()), size)) {
    throw WeightFileError(path.string() + ": cannot read ONNX file");
  }
  file.parse();
  return file;
}

OnnxFile OnnxFile::from_bytes(std::span<const std::byte> bytes, std::string label) {
  OnnxFile file;
  file.label_ = std::move(label);
  file.image_.assign(bytes.begin(), bytes.end());
  file.parse();
  return file;
}

void OnnxFile::parse() {
  Reader reader(image_, label_ + ": ModelProto");
  Field f;
  std::span<const std::byte> graph;
  bool have_graph = false;
  while (reader.next(f)) {
    if (f.number == model_field::kIrVersion) {
      protobuf::expect_wire(reader, f, WireType::Varint, "ir_version");
      ir_version_ = static_cast<std::int64_t>(f.value);
    } else if (f.number == model_field::kGraph) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "graph");
      graph = f.bytes;
      have_graph = true;
    } else if (f.number == model_field::kOpsetImport) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "opset_import");
      Reader opset(f.bytes, label_ + ": OperatorSetIdProto");
      Field g;
      std::string_view domain;
      std::int64_t version = 0;
      while (opset.next(g)) {
        if (g.number == opset_field::kDomain && g.wire == WireType::LengthDelimited) {
          domain = protobuf::as_string(g.bytes);
        } else if (g.number == opset_field::kVersion && g.wire == WireType::Varint) {
          version = static_cast<std::int64_t>(g.value);
        }
      }
      if (domain.empty() || domain == "ai.onnx") opset_ = version;
    }
  }
  if (!have_graph || ir_version_ == 0) {
    throw WeightFileError(label_ +
                          ": not an ONNX model (no ModelProto graph or ir_version; "
                          "truncated, corrupt or another file type)");
  }
  parse_graph(graph, "main", 0);
}

void OnnxFile::parse_graph(std::span<const std::byte> bytes, const std::string& where, int depth) {
  if (depth > kMaxGraphDepth) {
    throw WeightFileError(label_ + ": subgraphs nested deeper than " +
                          std::to_string(kMaxGraphDepth) + " at " + where);
  }
  Reader reader(bytes, label_ + ": GraphProto " + where);
  Field f;
  while (reader.next(f)) {
    if (f.number == graph_field::kNode) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "node");
      parse_node(f.bytes, where, depth);
    } else if (f.number == graph_field::kInitializer) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "initializer");
      add_tensor(parse_tensor(f.bytes, where));
    }
  }
}

void OnnxFile::parse_node(std::span<const std::byte> bytes, const std::string& where, int depth) {
  Reader reader(bytes, label_ + ": NodeProto in " + where);
  Field f;
  std::string_view first_output, name, op_type;
  std::vector<std::span<const std::byte>> attributes;
  while (reader.next(f)) {
    if (f.number == node_field::kOutput) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "output");
      if (first_output.empty()) first_output = protobuf::as_string(f.bytes);
    } else if (f.number == node_field::kName) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "name");
      name = protobuf::as_string(f.bytes);
    } else if (f.number == node_field::kOpType) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "op_type");
      op_type = protobuf::as_string(f.bytes);
    } else if (f.number == node_field::kAttribute) {
      protobuf::expect_wire(reader, f, WireType::LengthDelimited, "attribute");
      attributes.push_back(f.bytes);
    }
  }
  const std::string node_label = name.empty() ? std::string(first_output) : std::string(name);
  for (const auto& attribute : attributes) {
    Reader attr(attribute, label_ + ": AttributeProto of node '" + node_label + "' in " + where);
    Field a;
    std::string_view attr_name;
    std::span<const std::byte> tensor;
    bool have_tensor = false;
    std::vector<std::span<const std::byte>> graphs;
    while (attr.next(a)) {
      if (a.number == attribute_field::kName) {
        protobuf::expect_wire(attr, a, WireType::LengthDelimited, "name");
        attr_name = protobuf::as_string(a.bytes);
      } else if (a.number == attribute_field::kTensor) {
        protobuf::expect_wire(attr, a, WireType::LengthDelimited, "t");
        tensor = a.bytes;
        have_tensor = true;
      } else if (a.number == attribute_field::kGraph || a.number == attribute_field::kGraphs) {
        protobuf::expect_wire(attr, a, WireType::LengthDelimited, "g");
        graphs.push_back(a.bytes);
      }
    }
    if (op_type == "Constant" && attr_name == "value" && have_tensor) {
      OnnxTensor t = parse_tensor(tensor, where);
      // The node's output is the name the graph refers to; the TensorProto's own name is
      // often empty.
      if (!first_output.empty()) t.name = std::string(first_output);
      if (t.name.empty()) t.name = node_label;
      add_tensor(std::move(t));
    }
    for (std::size_t i = 0; i < graphs.size(); ++i) {
      std::string sub = where + "/" + node_label + "." + std::string(attr_name);
      if (graphs.size() > 1) {
        sub.push_back('[');
        sub.append(std::to_string(i));
        sub.push_back(']');
      }
      parse_graph(graphs[i], sub, depth + 1);
    }
  }
}

OnnxTensor OnnxFile::parse_tensor(std::span<const std::byte> bytes,
                                  const std::string& where) const {
  Reader reader(bytes, label_ + ": TensorProto in " + where);
  OnnxTensor t;
  t.graph = where;
  Field f;
  std::int64_t elements = 1;
  auto add_dim = [&](std::uint64_t d, std::size_t offset) {
    if (d > static_cast<std::uint64_t>(kMaxElements)) reader.fail("dimension out of range", offset);
    const auto dim = static_cast<std::int64_t>(d);
    if (dim != 0 && elements > kMaxElements / dim) reader.fail("too many elements", offset);
    elements *= dim;
    t.dims.push_back(dim);
  };
  while (reader.next(f)) {
    switch (f.number) {
      case tensor_field::kDims:
        if (f.wire == WireType::Varint) {
          add_dim(f.value, f.offset);
        } else {
          protobuf::expect_wire(reader, f, WireType::LengthDelimited, "dims");
          std::size_t pos = 0;
          while (pos < f.bytes.size())
            add_dim(protobuf::decode_varint(reader, f.bytes, pos), f.offset);
        }
        break;
      case tensor_field::kDataType:
        protobuf::expect_wire(reader, f, WireType::Varint, "data_type");
        t.data_type = static_cast<std::int32_t>(f.value);
        break;
      case tensor_field::kSegment:
        reader.fail("segmented tensors are not supported", f.offset);
      case tensor_field::kFloatData:
        if (f.wire == WireType::Fixed32) {
          t.float_data.push_back(protobuf::fixed32_as_float(f.value));
        } else {
          protobuf::expect_wire(reader, f, WireType::LengthDelimited, "float_data");
          if (f.bytes.size() % 4 != 0)
            reader.fail("packed float_data not a multiple of 4 bytes", f.offset);
          const std::size_t n = f.bytes.size() / 4;
          const std::size_t old = t.float_data.size();
          t.float_data.resize(old + n);
          // An empty packed field has no bytes (and may have a null data pointer).
          if (n != 0) std::memcpy(t.float_data.data() + old, f.bytes.data(), f.bytes.size());
        }
        break;
      case tensor_field::kDoubleData:
        if (f.wire == WireType::Fixed64) {
          t.double_data.push_back(protobuf::fixed64_as_double(f.value));
        } else {
          protobuf::expect_wire(reader, f, WireType::LengthDelimited, "double_data");
          if (f.bytes.size() % 8 != 0)
            reader.fail("packed double_data not a multiple of 8 bytes", f.offset);
          const std::size_t n = f.bytes.size() / 8;
          const std::size_t old = t.double_data.size();
          t.double_data.resize(old + n);
          // An empty packed field has no bytes (and may have a null data pointer).
          if (n != 0) std::memcpy(t.double_data.data() + old, f.bytes.data(), f.bytes.size());
        }
        break;
      case tensor_field::kInt32Data:
      case tensor_field::kInt64Data:
        t.int_data_count +=
            f.wire == WireType::LengthDelimited ? count_packed_varints(reader, f.bytes) : 1;
        break;
      case tensor_field::kName:
        protobuf::expect_wire(reader, f, WireType::LengthDelimited, "name");
        t.name = std::string(protobuf::as_string(f.bytes));
        break;
      case tensor_field::kRawData:
        protobuf::expect_wire(reader, f, WireType::LengthDelimited, "raw_data");
        t.raw_data = f.bytes;
        break;
      case tensor_field::kDataLocation:
        protobuf::expect_wire(reader, f, WireType::Varint, "data_location");
        t.external = f.value == 1;
        break;
      default:
        break;
    }
  }
  return t;
}

void OnnxFile::add_tensor(OnnxTensor tensor) {
  if (tensor.name.empty()) return;  // nothing can refer to it
  // Names are unique in a valid model; on a duplicate the first one stays.
  tensors_.emplace(tensor.name, std::move(tensor));
}

const OnnxTensor& OnnxFile::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw WeightFileError(label_ + ": no tensor '" + name + "' (" +
                          std::to_string(tensors_.size()) +
                          " initializers and Constant outputs in the file)");
  }
  return it->second;
}

std::vector<std::string> OnnxFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

namespace {

// Bytes per element in raw_data for the floating-point types read_f32 accepts, 0 otherwise.
std::size_t float_type_size(std::int32_t data_type) {
  switch (static_cast<OnnxDataType>(data_type)) {
    case OnnxDataType::kFloat:
      return 4;
    case OnnxDataType::kDouble:
      return 8;
    case OnnxDataType::kFloat16:
    case OnnxDataType::kBFloat16:
      return 2;
    default:
      return 0;
  }
}

bool uses_raw_data(const OnnxTensor& t) {
  return !t.raw_data.empty() || (t.float_data.empty() && t.double_data.empty());
}

// Checks that a floating-point tensor's stored values match its shape, before anything is
// allocated or copied for it.
void check_f32_storage(const OnnxTensor& t, const std::string& where) {
  if (t.external) throw WeightFileError(where + " is stored as external data (not supported)");
  const std::size_t elem = float_type_size(t.data_type);
  if (elem == 0) {
    throw WeightFileError(where + " has data type " + std::to_string(t.data_type) + " (" +
                          data_type_name(t.data_type) + "), expected a floating-point type");
  }
  const auto n = static_cast<std::size_t>(t.numel());
  std::size_t have = 0;
  const char* field = "raw_data";
  const auto type = static_cast<OnnxDataType>(t.data_type);
  if (uses_raw_data(t)) {
    have = t.raw_data.size() % elem == 0 ? t.raw_data.size() / elem : SIZE_MAX;
  } else if (type == OnnxDataType::kFloat) {
    have = t.float_data.size();
    field = "float_data";
  } else if (type == OnnxDataType::kDouble) {
    have = t.double_data.size();
    field = "double_data";
  } else {
    throw WeightFileError(where + ": " + data_type_name(t.data_type) +
                          " stored outside raw_data is not supported");
  }
  if (have != n) {
    throw WeightFileError(
        where + ": " + field + " holds " +
        (have == SIZE_MAX ? std::string("a partial value") : std::to_string(have) + " values") +
        " for shape " + t.shape_string() + " (" + std::to_string(n) + " elements)");
  }
}

}  // namespace

void OnnxFile::read_f32(const std::string& name, std::span<float> dst,
                        std::span<const std::int64_t> expected_shape) const {
  const OnnxTensor& t = tensor(name);
  const std::string where = label_ + ": tensor '" + name + "'";
  if (!expected_shape.empty() &&
      !std::equal(t.dims.begin(), t.dims.end(), expected_shape.begin(), expected_shape.end())) {
    OnnxTensor want;
    want.dims.assign(expected_shape.begin(), expected_shape.end());
    throw WeightFileError(where + " has shape " + t.shape_string() + ", expected " +
                          want.shape_string());
  }
  check_f32_storage(t, where);
  const auto n = static_cast<std::size_t>(t.numel());
  if (dst.size() != n) {
    throw WeightFileError(where + " has " + std::to_string(n) + " elements, destination holds " +
                          std::to_string(dst.size()));
  }
  const auto type = static_cast<OnnxDataType>(t.data_type);
  if (!uses_raw_data(t)) {
    if (type == OnnxDataType::kFloat) {
      std::copy(t.float_data.begin(), t.float_data.end(), dst.begin());
    } else {
      for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.double_data[i]);
    }
    return;
  }
  // raw_data is little-endian and may be unaligned: copy element by element.
  const std::byte* raw = t.raw_data.data();
  for (std::size_t i = 0; i < n; ++i) {
    switch (type) {
      case OnnxDataType::kFloat:
        std::memcpy(&dst[i], raw + 4 * i, 4);
        break;
      case OnnxDataType::kDouble: {
        double v;
        std::memcpy(&v, raw + 8 * i, 8);
        dst[i] = static_cast<float>(v);
        break;
      }
      default: {
        std::uint16_t bits;
        std::memcpy(&bits, raw + 2 * i, 2);
        dst[i] = type == OnnxDataType::kFloat16 ? f16_to_f32(bits) : bf16_to_f32(bits);
        break;
      }
    }
  }
}

std::vector<float> OnnxFile::load_f32(const std::string& name) const {
  const OnnxTensor& t = tensor(name);
  check_f32_storage(t, label_ + ": tensor '" + name + "'");  // before allocating numel floats
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  read_f32(name, out);
  return out;
}

}  // namespace earshot::models
