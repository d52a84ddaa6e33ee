// The model's real-time and hostile-input contracts: process() allocates nothing, NaN or
// infinite samples never poison the state, a weights file of the wrong architecture or a
// missing file is a clear error, and a budget too small is refused.
#include "models/vad/silero_vad.hpp"

#include "tests/vad/allocation_counter.hpp"
#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace earshot::models::vad {
namespace {

using test::vad::vad_fixture;

TEST(SileroVad, ProcessAllocatesNothing) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad_v6.2_16k.safetensors"), budget);
  SileroVad model(weights, budget);
  std::vector<float> window(kWindow);
  for (int i = 0; i < kWindow; ++i) window[i] = 0.3f * std::sin(0.05f * static_cast<float>(i));
  test::vad::AllocationGuard guard;
  for (int k = 0; k < 20; ++k) (void)model.process(std::span<const float, kWindow>(window));
  EXPECT_EQ(guard.count(), 0u);
}

TEST(SileroVad, NonFiniteSamplesAreSilence) {
  rt::MemoryBudget budget(16 << 20);
  const auto weights = load_silero_weights(vad_fixture("silero_vad_v6.2_16k.safetensors"), budget);
  SileroVad poisoned(weights, budget);
  SileroVad clean(weights, budget);
  std::vector<float> bad(kWindow, std::numeric_limits<float>::quiet_NaN());
  bad[7] = std::numeric_limits<float>::infinity();
  bad[9] = -std::numeric_limits<float>::infinity();
  std::vector<float> zeros(kWindow, 0.0f);
  for (int k = 0; k < 3; ++k) {
    const float p = poisoned.process(std::span<const float, kWindow>(bad));
    const float q = clean.process(std::span<const float, kWindow>(zeros));
    ASSERT_TRUE(std::isfinite(p));
    EXPECT_EQ(p, q);
  }
  // A clipped full-scale square wave gives a finite probability too.
  std::vector<float> clipped(kWindow);
  for (int i = 0; i < kWindow; ++i) clipped[i] = (i / 8) % 2 ? 1.0f : -1.0f;
  const float p = poisoned.process(std::span<const float, kWindow>(clipped));
  EXPECT_TRUE(p >= 0.0f && p <= 1.0f);
}

// Writes a minimal safetensors file holding one F32 tensor of the given shape.
void write_one_tensor_file(const std::filesystem::path& path, const std::string& name,
                           std::vector<int> shape) {
  std::size_t n = 1;
  std::string dims;
  for (int d : shape) {
    n *= static_cast<std::size_t>(d);
    if (!dims.empty()) dims.push_back(',');
    dims.append(std::to_string(d));
  }
  std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims +
                       "],\"data_offsets\":[0," + std::to_string(4 * n) + "]}}";
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header;
  std::vector<float> zeros(n);
  out.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(4 * n));
}

TEST(SileroVadWeights, WrongShapeIsAClearError) {
  const auto path = std::filesystem::temp_directory_path() / "earshot_vad_wrong_shape.safetensors";
  write_one_tensor_file(path, "stft_conv.weight", {130, 1, 256});
  rt::MemoryBudget budget(16 << 20);
  try {
    (void)load_silero_weights(path, budget);
    FAIL() << "expected WeightFileError";
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find("stft_conv.weight"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(SileroVadWeights, MissingTensorIsAClearError) {
  const auto path = std::filesystem::temp_directory_path() / "earshot_vad_missing.safetensors";
  write_one_tensor_file(path, "stft_conv.weight", {258, 1, 256});
  rt::MemoryBudget budget(16 << 20);
  try {
    (void)load_silero_weights(path, budget);
    FAIL() << "expected WeightFileError";
  } catch (const WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(SileroVadWeights, MissingFileIsAClearError) {
  rt::MemoryBudget budget(16 << 20);
  EXPECT_THROW((void)load_silero_weights("/nonexistent/silero.safetensors", budget),
               WeightFileError);
}

TEST(SileroVadWeights, TooSmallBudgetIsRefused) {
  rt::MemoryBudget budget(64 << 10);
  EXPECT_THROW((void)load_silero_weights(vad_fixture("silero_vad_v6.2_16k.safetensors"), budget),
               rt::BudgetExceeded);
}

}  // namespace
}  // namespace earshot::models::vad
