#include "models/core/protobuf_reader.hpp"

#include <bit>
#include <cstring>

namespace earshot::models::protobuf {

Reader::Reader(std::span<const std::byte> message, std::string context)
    : data_(message), context_(std::move(context)) {}

void Reader::fail(const std::string& what, std::size_t offset) const {
  throw WeightFileError(context_ + ": " + what + " at byte " + std::to_string(offset) + " of " +
                        std::to_string(data_.size()) + " (truncated or corrupt protobuf)");
}

std::uint64_t decode_varint(const Reader& reader, std::span<const std::byte> bytes,
                            std::size_t& pos) {
  const std::size_t start = pos;
  std::uint64_t value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= bytes.size()) reader.fail("truncated varint", start);
    const auto b = static_cast<std::uint8_t>(bytes[pos++]);
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && (b & 0x7e) != 0) reader.fail("varint overflows 64 bits", start);
    value |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return value;
  }
  reader.fail("varint longer than 10 bytes", start);
}

std::uint64_t Reader::read_varint() {
  return decode_varint(*this, data_, pos_);
}

bool Reader::next(Field& field) {
  if (pos_ >= data_.size()) return false;
  field = Field{};
  field.offset = pos_;
  const std::uint64_t tag = read_varint();
  const std::uint64_t number = tag >> 3;
  if (number == 0 || number > 0x1fffffff) fail("invalid field number", field.offset);
  field.number = static_cast<std::uint32_t>(number);
  const auto wire = static_cast<unsigned>(tag & 7);
  const std::size_t left = data_.size() - pos_;
  switch (wire) {
    case 0:
      field.wire = WireType::Varint;
      field.value = read_varint();
      break;
    case 1:
      field.wire = WireType::Fixed64;
      if (left < 8) fail("truncated fixed64 field " + std::to_string(number), field.offset);
      std::memcpy(&field.value, data_.data() + pos_, 8);  // little-endian host assumed
      pos_ += 8;
      break;
    case 2: {
      field.wire = WireType::LengthDelimited;
      const std::uint64_t len = read_varint();
      if (len > data_.size() - pos_) {
        fail("field " + std::to_string(number) + " claims " + std::to_string(len) +
                 " bytes but only " + std::to_string(data_.size() - pos_) + " remain",
             field.offset);
      }
      field.bytes = data_.subspan(pos_, static_cast<std::size_t>(len));
      pos_ += static_cast<std::size_t>(len);
      break;
    }
    case 5: {
      field.wire = WireType::Fixed32;
      if (left < 4) fail("truncated fixed32 field " + std::to_string(number), field.offset);
      std::uint32_t v = 0;
      std::memcpy(&v, data_.data() + pos_, 4);
      field.value = v;
      pos_ += 4;
      break;
    }
    default:  // 3, 4 (groups, unused by ONNX), 6, 7 (invalid)
      fail("unsupported wire type " + std::to_string(wire) + " for field " + std::to_string(number),
           field.offset);
  }
  return true;
}

void expect_wire(const Reader& reader, const Field& field, WireType wire, const char* field_name) {
  if (field.wire != wire) {
    reader.fail(std::string("field '") + field_name + "' has wire type " +
                    std::to_string(static_cast<int>(field.wire)) + ", expected " +
                    std::to_string(static_cast<int>(wire)),
                field.offset);
  }
}

float fixed32_as_float(std::uint64_t value) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(value));
}

double fixed64_as_double(std::uint64_t value) {
  return std::bit_cast<double>(value);
}

}  // namespace earshot::models::protobuf
