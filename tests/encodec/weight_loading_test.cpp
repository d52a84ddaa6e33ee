// Loading: the published key set, both weight-norm spellings, clear errors for missing or
// misshapen tensors, and the budget.
#include "models/core/json_file.hpp"
#include "models/encodec/parameter_list.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <set>

namespace earshot::encodec::test {
namespace {

// Rebuilds a safetensors image from a file, renaming/dropping/reshaping tensors on the way.
std::vector<std::byte> rebuild(const models::SafetensorsFile& file,
                               const std::function<std::string(const std::string&)>& rename,
                               const std::string& reshape = "") {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& name : file.names()) {
    const std::string to = rename(name);
    if (to.empty()) continue;
    const auto& info = file.info(name);
    const auto bytes = file.bytes(name);
    auto shape = info.shape;
    if (name == reshape) shape.insert(shape.begin(), 1);
    header[to] = {{"dtype", "F32"},
                  {"shape", shape},
                  {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  const std::string h = header.dump();
  std::vector<std::byte> out(8 + h.size() + data.size());
  const std::uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::memcpy(out.data() + 8 + h.size(), data.data(), data.size());
  return out;
}

TEST(EncodecWeights, PublishedKeySetIsExactlyWhatTheFixturesHold) {
  for (const char* name : {"24khz-random", "48khz-random"}) {
    const auto config = load_encodec_config(model_dir(name));
    const auto file = models::SafetensorsFile::open(model_dir(name) / "model.safetensors");
    std::set<std::string> expected;
    for (const auto& p : encodec_parameter_shapes(config)) {
      expected.insert(p.name);
      ASSERT_TRUE(file.contains(p.name)) << name << ": " << p.name;
      EXPECT_EQ(file.info(p.name).shape, p.shape) << p.name;
    }
    const auto names = file.names();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected) << name;
  }
}

TEST(EncodecWeights, ParametrizationsSpellingLoadsTheSameModel) {
  const auto dir = model_dir("24khz-random");
  const auto config = load_encodec_config(dir);
  const auto file = models::SafetensorsFile::open(dir / "model.safetensors");
  const auto renamed = models::SafetensorsFile::from_bytes(rebuild(file, [](const std::string& n) {
    std::string s = n;
    for (const auto& [from, to] :
         {std::pair<std::string, std::string>{"weight_g", "parametrizations.weight.original0"},
          {"weight_v", "parametrizations.weight.original1"}}) {
      if (auto p = s.find(from); p != std::string::npos) s.replace(p, from.size(), to);
    }
    return s;
  }));
  rt::MemoryBudget budget{64u << 20};
  const auto a = EncodecModel::load(config, file, budget);
  const auto b = EncodecModel::load(config, renamed, budget);
  const auto& wa = a.decoder().stages[0].up.weight;
  const auto& wb = b.decoder().stages[0].up.weight;
  ASSERT_EQ(wa.numel(), wb.numel());
  EXPECT_EQ(std::memcmp(wa.data(), wb.data(), wa.bytes()), 0);
}

TEST(EncodecWeights, MissingOrMisshapenTensorsAreNamed) {
  const auto dir = model_dir("24khz-random");
  const auto config = load_encodec_config(dir);
  const auto file = models::SafetensorsFile::open(dir / "model.safetensors");
  rt::MemoryBudget budget{64u << 20};
  const std::string victim = "decoder.layers.3.conv.weight_g";
  const auto missing = models::SafetensorsFile::from_bytes(
      rebuild(file, [&](const std::string& n) { return n == victim ? "" : n; }),
      "missing.safetensors");
  try {
    (void)EncodecModel::load(config, missing, budget);
    FAIL() << "loaded without " << victim;
  } catch (const models::WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << e.what();
  }
  const std::string lstm = "encoder.layers.13.lstm.weight_hh_l1";
  const auto misshapen =
      models::SafetensorsFile::from_bytes(rebuild(
                                              file, [](const std::string& n) { return n; }, lstm),
                                          "shape.safetensors");
  try {
    (void)EncodecModel::load(config, misshapen, budget);
    FAIL() << "loaded a misshapen " << lstm;
  } catch (const models::WeightFileError& e) {
    EXPECT_NE(std::string(e.what()).find(lstm), std::string::npos) << e.what();
  }
  // A 48 kHz directory's config with the 24 kHz weights: names differ, clear error.
  const auto config48 = load_encodec_config(model_dir("48khz-random"));
  EXPECT_THROW((void)EncodecModel::load(config48, file, budget), models::WeightFileError);
}

TEST(EncodecWeights, WeightsComeFromTheBudget) {
  rt::MemoryBudget budget{64u << 20};
  {
    const auto model = EncodecModel::load(model_dir("24khz-random"), budget);
    EXPECT_GT(budget.by_name().at("encodec.weights").active, 1u << 20);
  }
  EXPECT_EQ(budget.active(), 0u);
  rt::MemoryBudget tiny{256u << 10};
  EXPECT_THROW((void)EncodecModel::load(model_dir("24khz-random"), tiny), rt::BudgetExceeded);
}

TEST(EncodecWeights, BadConfigIsAClearError) {
  auto j = nlohmann::json::parse(R"({"audio_channels": 1, "sampling_rate": 24000})");
  EXPECT_THROW(parse_encodec_config(j, "config.json"), models::ConfigError);
  EXPECT_THROW(load_encodec_config(model_dir("does-not-exist")), models::ConfigError);
}

}  // namespace
}  // namespace earshot::encodec::test
