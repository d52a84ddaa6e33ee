// Loading Hugging Face Whisper directories: shapes, precision, budget, and hostile files.
#include "models/whisper/whisper_weights.hpp"
#include "models/core/json_file.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;
namespace fs = std::filesystem;

// A scratch copy of a fixture model whose config.json can be edited.
struct ModelCopy {
  fs::path dir;
  explicit ModelCopy(const std::string& name, const std::string& tag) {
    dir = fs::temp_directory_path() / ("earshot_whisper_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors", "generation_config.json"})
      fs::copy_file(model_dir(name) / f, dir / f);
  }
  ~ModelCopy() { fs::remove_all(dir); }
  void edit_config(const std::function<void(nlohmann::json&)>& edit) const {
    auto j = read_json_file(dir / "config.json");
    edit(j);
    std::ofstream(dir / "config.json") << j.dump();
  }
};

std::string load_error(const fs::path& dir) {
  rt::MemoryBudget budget(512u << 20);
  try {
    WhisperModel::load(dir, budget);
  } catch (const std::exception& e) {
    EXPECT_EQ(budget.active(), 0u) << "nothing may stay reserved after a refused load";
    return e.what();
  }
  return "";
}

TEST(WhisperWeights, LoadsTinyRandomF32) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("tiny-random"), budget);
  const auto& c = model->config;
  EXPECT_EQ(c.n_mels, 80);
  EXPECT_EQ(c.n_vocab, 51865);
  EXPECT_EQ(c.d_model, 32);
  EXPECT_EQ(c.encoder_layers, 2);
  EXPECT_EQ(c.decoder_layers, 2);
  EXPECT_EQ(c.suppress_tokens.size(), 88u);
  EXPECT_EQ(model->weights.embed_tokens.type, WeightType::F32);
  EXPECT_EQ(model->weights.proj_out.rows, 0) << "proj_out is tied to embed_tokens";
  EXPECT_EQ(&model->weights.output_projection(), &model->weights.embed_tokens);
  EXPECT_EQ(budget.active(), model->weight_bytes);
}

TEST(WhisperWeights, V3RandomStaysF16InMemory) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("v3-random"), budget);
  const auto& w = model->weights;
  EXPECT_EQ(model->config.n_mels, 128);
  EXPECT_EQ(model->config.decoder_layers, 1);
  EXPECT_EQ(w.embed_tokens.type, WeightType::F16);
  EXPECT_EQ(w.embed_tokens.storage.bytes(), 51866u * 32u * 2u);
  EXPECT_EQ(w.encoder_layers[0].fc1.w.type, WeightType::F16);
  // The file is ~3.5 MB of mostly F16 data: F32 copies would double it. Only the small
  // vectors (biases, norms, positional tables: ~0.3 MB here) are widened to F32.
  const auto file_bytes = fs::file_size(model_dir("v3-random") / "model.safetensors");
  EXPECT_LT(model->weight_bytes, file_bytes + file_bytes / 10);
}

TEST(WhisperWeights, AcceptsTorchDtypeKey) {
  auto j = read_json_file(model_dir("tiny-random") / "config.json");
  j.erase("dtype");
  j["torch_dtype"] = "float16";
  const auto c = WhisperConfig::parse(j.dump(), "test");
  EXPECT_EQ(c.dtype, "float16");
}

TEST(WhisperWeights, ConfigDisagreeingWithWeightsIsRefused) {
  ModelCopy copy("tiny-random", "dmodel");
  copy.edit_config([](nlohmann::json& j) {
    j["d_model"] = 64;
    j["encoder_ffn_dim"] = 256;
  });
  const auto msg = load_error(copy.dir);
  EXPECT_NE(msg.find("model.encoder.conv1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[32, 80, 3]"), std::string::npos) << msg;
}

TEST(WhisperWeights, MelBinMismatchIsNamed) {
  ModelCopy copy("tiny-random", "mels");
  copy.edit_config([](nlohmann::json& j) { j["num_mel_bins"] = 128; });
  const auto msg = load_error(copy.dir);
  EXPECT_NE(msg.find("80-mel-bin"), std::string::npos) << msg;
}

TEST(WhisperWeights, ExtraLayersInFileAreRefused) {
  ModelCopy copy("tiny-random", "layers");
  copy.edit_config([](nlohmann::json& j) { j["encoder_layers"] = 1; });
  const auto msg = load_error(copy.dir);
  EXPECT_NE(msg.find("encoder_layers = 1"), std::string::npos) << msg;
}

TEST(WhisperWeights, TruncatedFileIsRefused) {
  ModelCopy copy("tiny-random", "trunc");
  const auto path = copy.dir / "model.safetensors";
  fs::resize_file(path, fs::file_size(path) / 2);
  const auto msg = load_error(copy.dir);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

TEST(WhisperWeights, MissingFilesAndBadConfigAreClear) {
  EXPECT_NE(load_error("/nonexistent/whisper").find("config.json"), std::string::npos);
  ModelCopy copy("tiny-random", "heads");
  copy.edit_config([](nlohmann::json& j) { j["encoder_attention_heads"] = 5; });
  EXPECT_NE(load_error(copy.dir).find("divisible"), std::string::npos);
}

TEST(WhisperWeights, PlanIsCheckedBeforeReserving) {
  rt::MemoryBudget budget(1u << 20);  // 1 MiB: far too small
  EXPECT_THROW(WhisperModel::load(model_dir("tiny-random"), budget), rt::BudgetExceeded);
  EXPECT_EQ(budget.peak(), 0u) << "a refused plan must not reserve anything";
}

// Special-token ids derived from the vocabulary size against openai's tables (tokens.json).
TEST(WhisperSpecialTokens, MatchOpenaiTables) {
  const auto j = read_json_file(earshot::test::fixture("whisper/tokenizer/tokens.json"));
  for (const char* layout : {"multilingual_99", "multilingual_100", "english_gpt2"}) {
    const auto& t = j.at(layout);
    const auto ids = SpecialTokenIds::for_vocab(t.at("n_vocab").get<int>());
    SCOPED_TRACE(layout);
    EXPECT_EQ(ids.eot, t.at("eot").get<int>());
    EXPECT_EQ(ids.sot, t.at("sot").get<int>());
    EXPECT_EQ(ids.translate, t.at("translate").get<int>());
    EXPECT_EQ(ids.transcribe, t.at("transcribe").get<int>());
    EXPECT_EQ(ids.sot_lm, t.at("sot_lm").get<int>());
    EXPECT_EQ(ids.sot_prev, t.at("sot_prev").get<int>());
    EXPECT_EQ(ids.no_speech, t.at("no_speech").get<int>());
    EXPECT_EQ(ids.no_timestamps, t.at("no_timestamps").get<int>());
    EXPECT_EQ(ids.timestamp_begin, t.at("timestamp_begin").get<int>());
    EXPECT_EQ(ids.timestamp_end, t.at("timestamp_end").get<int>());
    for (const auto& [code, id] : t.at("language_tokens").items())
      EXPECT_EQ(ids.language_token(code), id.get<int>()) << code;
  }
  const auto v2 = SpecialTokenIds::for_vocab(51865);
  EXPECT_THROW(v2.language_token("yue"), ConfigError);  // only the 100-language layout has it
  EXPECT_THROW(v2.language_token("xx"), ConfigError);
  EXPECT_THROW(SpecialTokenIds::for_vocab(50000), ConfigError);
}

}  // namespace
}  // namespace earshot::models::whisper
