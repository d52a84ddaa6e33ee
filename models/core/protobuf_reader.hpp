// A minimal reader of the protobuf wire format (no schema, no code generation), enough to walk
// ONNX files: varints, fixed 32/64-bit values and length-delimited fields.
//
// Every length and varint is bounds-checked against the enclosing message, so a truncated or
// corrupt input is a WeightFileError naming the file, the message and the byte offset, never
// a read past the end, a crash or a hang (each field consumes at least one byte).
#pragma once

#include "models/core/safetensors.hpp"  // WeightFileError

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace earshot::models::protobuf {

enum class WireType : std::uint8_t { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 };

struct Field {
  std::uint32_t number = 0;
  WireType wire = WireType::Varint;
  std::uint64_t value = 0;           // Varint, Fixed64 and Fixed32 payloads
  std::span<const std::byte> bytes;  // LengthDelimited payload
  std::size_t offset = 0;            // offset of the field's tag within the message
};

// Reads the fields of one message in order.
class Reader {
 public:
  // `context` names the file and the message for error messages ("model.onnx: GraphProto").
  Reader(std::span<const std::byte> message, std::string context);

  // Reads the next field into `field`; false at the end of the message. Throws WeightFileError
  // on a truncated or malformed field (bad wire type, varint over 10 bytes, length past the end).
  bool next(Field& field);

  const std::string& context() const { return context_; }
  [[noreturn]] void fail(const std::string& what, std::size_t offset) const;

 private:
  std::uint64_t read_varint();

  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  std::string context_;
};

// A length-delimited field's payload as text (no UTF-8 validation: names are compared, not shown
// raw).
inline std::string_view as_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Checks a field's wire type; throws a WeightFileError naming `field_name` otherwise.
void expect_wire(const Reader& reader, const Field& field, WireType wire, const char* field_name);

// Decodes a varint at `pos` in `bytes` (advancing pos); throws via `reader` when truncated.
std::uint64_t decode_varint(const Reader& reader, std::span<const std::byte> bytes,
                            std::size_t& pos);

// The payload of a Fixed32 field as a float.
float fixed32_as_float(std::uint64_t value);
// The payload of a Fixed64 field as a double.
double fixed64_as_double(std::uint64_t value);

}  // namespace earshot::models::protobuf
