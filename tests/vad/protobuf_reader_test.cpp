// The protobuf wire-format reader on hand-made messages: every wire type, and every way a
// message can be cut short or lie about its lengths.
#include "models/core/protobuf_reader.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace earshot::models::protobuf {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<Field> read_all(const std::vector<std::byte>& message) {
  Reader reader(message, "test message");
  std::vector<Field> fields;
  Field f;
  while (reader.next(f)) fields.push_back(f);
  return fields;
}

void expect_error(const std::vector<std::byte>& message, const std::string& needle) {
  try {
    (void)read_all(message);
    ADD_FAILURE() << "accepted, expected an error about " << needle;
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test message"), std::string::npos) << e.what();
  }
}

TEST(ProtobufReader, ReadsEveryWireType) {
  // field 1 varint 300; field 2 "hi"; field 3 fixed32 1.5f; field 4 fixed64 0x0102030405060708.
  const auto message = bytes({0x08, 0xac, 0x02, 0x12, 0x02, 'h',  'i',  0x1d, 0x00, 0x00, 0xc0,
                              0x3f, 0x21, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01});
  const auto fields = read_all(message);
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].number, 1u);
  EXPECT_EQ(fields[0].wire, WireType::Varint);
  EXPECT_EQ(fields[0].value, 300u);
  EXPECT_EQ(fields[1].number, 2u);
  EXPECT_EQ(as_string(fields[1].bytes), "hi");
  EXPECT_EQ(fields[1].offset, 3u);
  EXPECT_EQ(fields[2].wire, WireType::Fixed32);
  EXPECT_EQ(fixed32_as_float(fields[2].value), 1.5f);
  EXPECT_EQ(fields[3].wire, WireType::Fixed64);
  EXPECT_EQ(fields[3].value, 0x0102030405060708u);
}

TEST(ProtobufReader, LargestVarintAndEmptyMessage) {
  const auto message = bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  const auto fields = read_all(message);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].value, ~std::uint64_t{0});
  EXPECT_TRUE(read_all({}).empty());
}

TEST(ProtobufReader, MalformedMessagesAreClearErrors) {
  expect_error(bytes({0x08}), "truncated varint");              // tag without its value
  expect_error(bytes({0x08, 0x80, 0x80}), "truncated varint");  // value cut mid-varint
  expect_error(bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}),
               "overflows");  // 65-bit value
  expect_error(bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}),
               "longer than 10 bytes");
  expect_error(bytes({0x12, 0x05, 'a', 'b'}), "claims 5 bytes");  // length past the end
  expect_error(bytes({0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}),
               "claims");  // absurd length
  expect_error(bytes({0x1d, 0x00, 0x00}), "truncated fixed32");
  expect_error(bytes({0x21, 0x00}), "truncated fixed64");
  expect_error(bytes({0x0b}), "wire type 3");  // start group
  expect_error(bytes({0x0e, 0x00}), "wire type 6");
  expect_error(bytes({0x00, 0x00}), "invalid field number");  // field 0
}

TEST(ProtobufReader, ExpectWireNamesTheField) {
  const auto message = bytes({0x08, 0x01});
  Reader reader(message, "test message");
  Field f;
  ASSERT_TRUE(reader.next(f));
  try {
    expect_wire(reader, f, WireType::LengthDelimited, "graph");
    ADD_FAILURE();
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find("'graph'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace earshot::models::protobuf
