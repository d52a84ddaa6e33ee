// The ONNX reader on the official silero_vad.onnx: the 16 kHz weights found in the top-level
// If's then_branch equal the safetensors export bit for bit; truncated and corrupted copies of
// the file are clear WeightFileErrors, never crashes or hangs.
#include "models/core/onnx_file.hpp"

#include "models/core/protobuf_reader.hpp"
#include "models/vad/silero_weights.hpp"
#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>

namespace earshot::models {
namespace {

using test::vad::vad_fixture;

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

const std::vector<std::string>& safetensors_keys() {
  static const std::vector<std::string> keys = {
      "stft_conv.weight",  "conv1.weight",        "conv1.bias",          "conv2.weight",
      "conv2.bias",        "conv3.weight",        "conv3.bias",          "conv4.weight",
      "conv4.bias",        "lstm_cell.weight_ih", "lstm_cell.weight_hh", "lstm_cell.bias_ih",
      "lstm_cell.bias_hh", "final_conv.weight",   "final_conv.bias"};
  return keys;
}

TEST(OnnxFile, ThenBranchWeightsEqualTheSafetensorsExport) {
  const auto onnx = OnnxFile::open(vad_fixture("silero_vad.onnx"));
  const auto st = SafetensorsFile::open(vad_fixture("silero_vad_v6.2_16k.safetensors"));
  EXPECT_EQ(onnx.opset(), 16);
  for (const auto& key : safetensors_keys()) {
    const std::string name = std::string(vad::kOnnx16kPrefix) + vad::onnx_module_name(key);
    SCOPED_TRACE(name);
    ASSERT_TRUE(onnx.contains(name));
    const auto& t = onnx.tensor(name);
    EXPECT_EQ(t.graph.find("then_branch"), t.graph.size() - std::string("then_branch").size())
        << t.graph;
    EXPECT_EQ(t.dims, st.info(key).shape);
    const auto a = onnx.load_f32(name);
    const auto b = st.load_f32(key);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  }
  // The 8 kHz model sits in the else_branch with half-size STFT (129 -> 65 bins).
  const std::string basis8k = "If_0_else_branch__Inline_0__stft.forward_basis_buffer";
  ASSERT_TRUE(onnx.contains(basis8k));
  EXPECT_EQ(onnx.tensor(basis8k).dims, (std::vector<std::int64_t>{130, 1, 128}));
}

// Where the ModelProto's graph field ends: cutting the file anywhere before it must fail.
std::size_t graph_end(std::span<const std::byte> image) {
  protobuf::Reader reader(image, "model");
  protobuf::Field f;
  std::size_t end = 0;
  while (reader.next(f)) {
    if (f.number == 7)
      end = static_cast<std::size_t>(f.bytes.data() + f.bytes.size() - image.data());
  }
  return end;
}

TEST(OnnxFile, TruncatedCopiesAreClearErrors) {
  const auto image = read_bytes(vad_fixture("silero_vad.onnx"));
  const std::size_t end = graph_end(image);
  ASSERT_GT(end, image.size() / 2);
  std::vector<std::size_t> cuts = {0, 1, 2, 5, 16, 100, 1000, end / 3, end / 2, end - 1};
  std::mt19937 rng(1234);
  for (int i = 0; i < 20; ++i)
    cuts.push_back(std::uniform_int_distribution<std::size_t>(0, end - 1)(rng));
  for (std::size_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    try {
      (void)OnnxFile::from_bytes(std::span(image).first(cut), "cut.onnx");
      ADD_FAILURE() << "accepted a file truncated inside its graph";
    } catch (const WeightFileError& e) {
      EXPECT_NE(std::string(e.what()).find("cut.onnx"), std::string::npos) << e.what();
    }
  }
  // Through the VAD loader, from a real file: the message names the file.
  const auto path = std::filesystem::temp_directory_path() / "earshot_vad_truncated.onnx";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(end / 2));
  }
  rt::MemoryBudget budget(16 << 20);
  try {
    (void)vad::load_silero_weights(path, budget);
    ADD_FAILURE() << "loaded a truncated ONNX file";
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(OnnxFile, CorruptedCopiesNeverCrash) {
  const auto image = read_bytes(vad_fixture("silero_vad.onnx"));
  const auto reference = OnnxFile::from_bytes(image, "good.onnx");
  std::mt19937 rng(42);
  int rejected = 0;
  for (int copy = 0; copy < 120; ++copy) {
    auto bad = image;
    // A few random bytes changed, biased towards the first 64 KiB where most structure is.
    const int flips = 1 + copy % 8;
    for (int k = 0; k < flips; ++k) {
      const std::size_t limit =
          copy % 2 ? bad.size() - 1 : std::min<std::size_t>(bad.size() - 1, 65535);
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, limit)(rng);
      bad[at] = static_cast<std::byte>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    try {
      const auto file = OnnxFile::from_bytes(bad, "bad.onnx");
      // Parsed: reading every float tensor either works or is a clear error.
      for (const auto& name : file.names()) {
        try {
          (void)file.load_f32(name);
        } catch (const WeightFileError&) {
        }
      }
    } catch (const WeightFileError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find("bad.onnx"), std::string::npos) << e.what();
    }
  }
  std::printf("corrupted copies rejected: %d of 120\n", rejected);
  EXPECT_GT(reference.names().size(), 15u);
}

// Structural damage at known places: each is refused with a message that says what is wrong.
TEST(OnnxFile, DamagedStructureIsAClearError) {
  const auto image = read_bytes(vad_fixture("silero_vad.onnx"));
  protobuf::Reader reader(image, "model");
  protobuf::Field f;
  std::size_t graph_tag = 0;
  std::span<const std::byte> graph;
  while (reader.next(f)) {
    if (f.number == 7) {
      graph_tag = f.offset;
      graph = f.bytes;
    }
  }
  ASSERT_FALSE(graph.empty());
  const auto graph_at = static_cast<std::size_t>(graph.data() - image.data());
  auto expect_error = [](const std::vector<std::byte>& bytes, const std::string& needle) {
    try {
      (void)OnnxFile::from_bytes(bytes, "damaged.onnx");
      ADD_FAILURE() << "accepted, expected an error about " << needle;
    } catch (const WeightFileError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  {  // The graph's length becomes a varint that never ends.
    auto bad = image;
    for (std::size_t i = graph_tag + 1; i < graph_tag + 12; ++i) bad[i] = std::byte{0xff};
    expect_error(bad, "varint");
  }
  {  // The graph's first field (a node) gets the deprecated group wire type.
    auto bad = image;
    bad[graph_at] = std::byte{(1 << 3) | 3};
    expect_error(bad, "wire type");
  }
  {  // The graph claims more bytes than the file holds.
    auto bad = image;
    bad[graph_tag + 1] = std::byte{0xff};
    bad[graph_tag + 2] = std::byte{0xff};
    bad[graph_tag + 3] = std::byte{0xff};
    bad[graph_tag + 4] = std::byte{0x7f};
    expect_error(bad, "remain");
  }
  {  // A tensor whose data does not match its shape: grow the first dim of the STFT basis.
    auto bad = image;
    const std::string name = std::string(vad::kOnnx16kPrefix) + "stft.forward_basis_buffer";
    const auto file = OnnxFile::from_bytes(image, "good.onnx");
    ASSERT_EQ(file.tensor(name).dims[0], 258);
    // dims are stored as varints; 258 = 0x82 0x02. Find it just before the name's tensor data.
    const auto it = std::search(bad.begin(), bad.end(), name.begin(), name.end(),
                                [](std::byte a, char b) { return a == static_cast<std::byte>(b); });
    ASSERT_NE(it, bad.end());
    bool patched = false;
    for (auto p = it; p + 2 < bad.end() && p < it + 512; ++p) {
      if (p[0] == std::byte{0x08} && p[1] == std::byte{0x82} && p[2] == std::byte{0x02}) {
        p[2] = std::byte{0x03};  // 386 rows
        patched = true;
        break;
      }
    }
    ASSERT_TRUE(patched);
    const auto damaged = OnnxFile::from_bytes(bad, "damaged.onnx");
    try {
      (void)damaged.load_f32(name);
      ADD_FAILURE() << "read a tensor whose raw_data is shorter than its shape";
    } catch (const WeightFileError& e) {
      EXPECT_NE(std::string(e.what()).find("raw_data"), std::string::npos) << e.what();
    }
  }
}

// Small hand-made models (also the fuzzer's seeds): typed float_data, FLOAT16 raw_data,
// double_data, initializers and Constants in both If branches.
TEST(OnnxFile, ReadsEveryStorageForm) {
  const std::filesystem::path seeds =
      std::filesystem::path(EARSHOT_SOURCE_DIR) / "fuzz/corpus/fuzz_onnx";
  const auto model = OnnxFile::open(seeds / "seed_if_constants.onnx");
  EXPECT_EQ(model.opset(), 16);
  EXPECT_EQ(model.load_f32("If_0_then_branch__Inline_0__w"),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(model.tensor("If_0_then_branch__Inline_0__w").graph, "main/If_0.then_branch");
  EXPECT_EQ(model.load_f32("If_0_else_branch__Inline_0__w"), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(model.load_f32("init"), (std::vector<float>{0.5f, 0.25f, -1.0f, 2.0f}));
  std::vector<float> wrong(5);
  EXPECT_THROW(model.read_f32("init", wrong), WeightFileError);
  const std::int64_t other_shape[] = {2, 2};
  std::vector<float> four(4);
  EXPECT_THROW(model.read_f32("init", four, other_shape), WeightFileError);

  const auto types = OnnxFile::open(seeds / "seed_types.onnx");
  EXPECT_EQ(types.load_f32("half"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(types.load_f32("dbl"), (std::vector<float>{1.0f, -2.5f}));
}

TEST(OnnxFile, NotAnOnnxFile) {
  EXPECT_THROW((void)OnnxFile::open(vad_fixture("silero_vad_v6.2_16k.safetensors")),
               WeightFileError);
  EXPECT_THROW((void)OnnxFile::open("/nonexistent/model.onnx"), WeightFileError);
  EXPECT_THROW((void)OnnxFile::from_bytes({}, "empty.onnx"), WeightFileError);
}

}  // namespace
}  // namespace earshot::models
