#include "models/core/safetensors.hpp"
#include "models/core/half.hpp"
#include "models/core/tensor.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace earshot::models {
namespace {

// Builds a safetensors image from a JSON header and raw data.
std::vector<std::byte> image(const std::string& header, const std::string& data) {
  std::vector<std::byte> out(8 + header.size() + data.size());
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

std::string floats(std::initializer_list<float> values) {
  std::string s(values.size() * 4, '\0');
  std::memcpy(s.data(), values.begin(), s.size());
  return s;
}

void expect_rejected(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    (void)SafetensorsFile::from_bytes(bytes, "test.safetensors");
    FAIL() << "accepted a corrupt file (expected: " << needle << ")";
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsValidImage) {
  const auto bytes = image(
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]}})",
      floats({1, 2, 3, 4}) + std::string("\x00\x3c\x00\xc0", 4));
  auto file = SafetensorsFile::from_bytes(bytes);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.info("w").shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(file.load_f32("w"), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(file.load_f32("h"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_THROW(file.info("missing"), WeightFileError);
  EXPECT_THROW(file.load_i32("w"), WeightFileError);
  const std::int64_t wrong[] = {4};
  EXPECT_THROW(file.expect_shape("w", wrong), WeightFileError);
}

TEST(Safetensors, RejectsCorruptHeaders) {
  const std::string data = floats({1, 2});
  expect_rejected({}, "shorter than");
  auto huge = image("{}", "");
  huge[7] = std::byte{0x7f};
  expect_rejected(huge, "implausible");
  auto past = image("{}", "");
  past[0] = std::byte{100};
  expect_rejected(past, "past the end");
  expect_rejected(image("{not json", ""), "not valid JSON");
  expect_rejected(image("[1,2]", ""), "not a JSON object");
  expect_rejected(image(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", data),
                  "unsupported dtype");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
                  "needs 12");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data),
                  "truncated");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data),
                  "non-negative");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data),
                  "begin after");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        data),
                  "overlap");
  expect_rejected(
      image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data),
      "overflows");
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[2]}})", data), "data_offsets");
}

TEST(Safetensors, TruncatedFixtureFileIsAClearError) {
  const auto path = test::fixture("whisper/tiny-random/model.safetensors");
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(raw.size(), 4096u);
  std::vector<std::byte> cut(raw.size() / 2);
  std::memcpy(cut.data(), raw.data(), cut.size());
  expect_rejected(cut, "truncated");
}

TEST(Safetensors, MapsWhisperFixturesF32AndF16) {
  auto tiny = SafetensorsFile::open(test::fixture("whisper/tiny-random/model.safetensors"));
  EXPECT_EQ(tiny.info("model.encoder.conv1.weight").shape, (std::vector<std::int64_t>{32, 80, 3}));
  EXPECT_EQ(tiny.info("model.encoder.conv1.weight").dtype, DType::F32);
  auto v3 = SafetensorsFile::open(test::fixture("whisper/v3-random/model.safetensors"));
  const auto& emb = v3.info("model.decoder.embed_tokens.weight");
  EXPECT_EQ(emb.dtype, DType::F16);
  EXPECT_EQ(emb.shape, (std::vector<std::int64_t>{51866, 32}));
  rt::MemoryBudget budget(64 << 20);
  Tensor t = load_tensor_f32(v3, "model.encoder.conv1.weight", budget, "conv1");
  EXPECT_EQ(t.numel(), 32 * 128 * 3);
  EXPECT_EQ(budget.active(), t.bytes());
  for (float v : t.span()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_THROW(SafetensorsFile::open(test::fixture("whisper/tiny-random/nope.safetensors")),
               WeightFileError);
}

TEST(Half, ConvertsEveryF16ValueExactlyAndBack) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "half bits " << h << " -> " << f;
  }
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie rounds to even
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);                      // rounds to Inf
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
}

}  // namespace
}  // namespace earshot::models
