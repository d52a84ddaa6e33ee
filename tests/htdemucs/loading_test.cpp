// Loading HTDemucs: the segment from the config's fraction, F16 checkpoints (as the official
// ones are), and clear errors for configs that do not match the weights.
#include "models/core/half.hpp"
#include "models/core/json_file.hpp"
#include "models/htdemucs/htdemucs.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"
#include "tests/htdemucs/model_dir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace earshot::htdemucs {
namespace {

namespace fs = std::filesystem;

using test::ModelDir;
using test::Weights;

std::string load_error(const std::function<void(nlohmann::json&)>& edit) {
  ModelDir dir(edit, Weights::Link);
  rt::MemoryBudget budget(256u << 20);
  try {
    HTDemucs::load(dir.str(), budget);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(HTDemucsLoading, SegmentFromTheFraction) {
  const auto c4 =
      HTDemucsConfig::from_json_file(fs::path(test::model_dir("small4")) / "config.json");
  EXPECT_EQ(c4.training_length(), 42997);  // int(39/40 * 44100)
  EXPECT_EQ(c4.frames(), 42);
  const auto c6 =
      HTDemucsConfig::from_json_file(fs::path(test::model_dir("small6")) / "config.json");
  EXPECT_EQ(c6.training_length(), 28665);
  EXPECT_EQ(c6.num_sources(), 6);
  // Without segment_fraction the float segment is read as an exact fraction: 7.8 -> 39/5.
  ModelDir dir(
      [](nlohmann::json& j) {
        j.erase("segment_fraction");
        j.erase("training_length_samples");
        j["kwargs"]["segment"] = 7.8;
      },
      Weights::Link);
  const auto c = HTDemucsConfig::from_json_file(fs::path(dir.str()) / "config.json");
  EXPECT_EQ(c.training_length(), 343980);
}

TEST(HTDemucsLoading, F16WeightsLoadLikeTheirF32Values) {
  ModelDir f16([](nlohmann::json&) {}, Weights::F16);
  ModelDir f32([](nlohmann::json&) {}, Weights::F32Rounded);
  rt::MemoryBudget budget(512u << 20);
  auto a = HTDemucs::load(f16.str(), budget);
  auto b = HTDemucs::load(f32.str(), budget);
  const auto ref = test::reference("small4");
  const auto in = ref.load_f32("segment_in");
  const auto want = ref.load_f32("segment_out");
  std::vector<float> out_a(want.size()), out_b(want.size());
  a->forward(in.data(), a->segment_length(), out_a.data());
  b->forward(in.data(), b->segment_length(), out_b.data());
  EXPECT_EQ(0, std::memcmp(out_a.data(), out_b.data(), out_a.size() * sizeof(float)));
  // Half-precision weights still separate: close to the F32 reference, but not identical.
  const auto e = test::compare(out_a, want);
  EXPECT_GT(e.rel_l2, 0.0);
  EXPECT_LT(e.rel_l2, 0.05);
}

TEST(HTDemucsLoading, ConfigThatDoesNotMatchTheWeights) {
  auto more_channels = load_error([](nlohmann::json& j) { j["kwargs"]["channels"] = 16; });
  EXPECT_NE(more_channels.find("encoder.0.conv.weight"), std::string::npos) << more_channels;
  EXPECT_NE(more_channels.find("does not match"), std::string::npos) << more_channels;
  auto six = load_error([](nlohmann::json& j) {
    j["kwargs"]["sources"] = {"drums", "bass", "other", "vocals", "guitar", "piano"};
  });
  EXPECT_NE(six.find("decoder.3.conv_tr.weight"), std::string::npos) << six;
  auto shallower = load_error([](nlohmann::json& j) { j["kwargs"]["depth"] = 3; });
  EXPECT_NE(shallower.find("does not match"), std::string::npos) << shallower;
  auto width = load_error([](nlohmann::json& j) { j["kwargs"]["bottom_channels"] = 64; });
  EXPECT_NE(width.find("channel_upsampler"), std::string::npos) << width;
}

TEST(HTDemucsLoading, BadConfigsAreClearErrors) {
  EXPECT_NE(load_error([](nlohmann::json& j) { j.erase("kwargs"); }).find("kwargs"),
            std::string::npos);
  EXPECT_NE(load_error([](nlohmann::json& j) {
              j["training_length_samples"] = 1234;
            }).find("training_length_samples"),
            std::string::npos);
  EXPECT_NE(load_error([](nlohmann::json& j) { j["kwargs"]["cac"] = false; }).find("cac"),
            std::string::npos);
  EXPECT_NE(load_error([](nlohmann::json& j) {
              j["segment_fraction"] = {1, 0};
            }).find("segment_fraction"),
            std::string::npos);
  EXPECT_NE(load_error([](nlohmann::json& j) { j["kwargs"]["sources"] = "drums"; }).find("sources"),
            std::string::npos);
}

TEST(HTDemucsLoading, WeightsAndWorkspacesAreInTheBudget) {
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget);
  const auto stats = budget.by_name();
  ASSERT_TRUE(stats.count("htdemucs/weights"));
  EXPECT_GE(stats.at("htdemucs/weights").active, 577696u * 4);
  EXPECT_TRUE(stats.count("htdemucs/activations"));
  // A budget too small for the plan is refused before anything runs.
  rt::MemoryBudget tiny(1u << 20);
  EXPECT_THROW(HTDemucs::load(test::model_dir("small4"), tiny), rt::BudgetExceeded);
}

TEST(HTDemucsLoading, RejectsBadForwardLengths) {
  rt::MemoryBudget budget(512u << 20);
  auto model = HTDemucs::load(test::model_dir("small4"), budget);
  std::vector<float> in(2 * (model->segment_length() + 1)), out(8 * (model->segment_length() + 1));
  EXPECT_THROW(model->forward(in.data(), model->segment_length() + 1, out.data()),
               std::invalid_argument);
  EXPECT_THROW(model->forward(in.data(), 0, out.data()), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::htdemucs
