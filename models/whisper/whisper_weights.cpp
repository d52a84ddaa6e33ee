#include "models/whisper/whisper_weights.hpp"

#include "models/core/half.hpp"
#include "models/core/json_file.hpp"
#include "models/core/safetensors.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>

namespace earshot::models::whisper {
namespace {

using Shape = std::vector<std::int64_t>;

// One tensor the model needs: its key, the shape config.json implies, and where it goes.
struct Spec {
  std::string key;
  Shape shape;
  WeightMatrix* matrix = nullptr;  // exactly one of matrix / vector is set
  VectorWeight* vector = nullptr;
  bool optional = false;
  const char* budget_name = "";
};

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::int64_t product(const Shape& s, std::size_t from) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

// Lists every tensor of the architecture described by `c`, in a fixed order.
std::vector<Spec> architecture(const WhisperConfig& c, WhisperWeights& w) {
  std::vector<Spec> specs;
  const std::int64_t d = c.d_model;
  const char* enc = "whisper encoder weights";
  const char* dec = "whisper decoder weights";
  auto mat = [&](std::string key, Shape shape, WeightMatrix& m, const char* budget,
                 bool optional = false) {
    specs.push_back({std::move(key), std::move(shape), &m, nullptr, optional, budget});
  };
  auto vec = [&](std::string key, Shape shape, VectorWeight& v, const char* budget) {
    specs.push_back({std::move(key), std::move(shape), nullptr, &v, false, budget});
  };
  auto linear = [&](const std::string& p, std::int64_t out, std::int64_t in, LinearWeight& l,
                    const char* budget, bool bias = true) {
    mat(p + ".weight", {out, in}, l.w, budget);
    if (bias) vec(p + ".bias", {out}, l.b, budget);
  };
  auto norm = [&](const std::string& p, LayerNormWeight& n, const char* budget) {
    vec(p + ".weight", {d}, n.gamma, budget);
    vec(p + ".bias", {d}, n.beta, budget);
  };
  auto attention = [&](const std::string& p, AttentionWeight& a, const char* budget) {
    linear(p + ".q_proj", d, d, a.q, budget);
    linear(p + ".k_proj", d, d, a.k, budget, /*bias=*/false);
    linear(p + ".v_proj", d, d, a.v, budget);
    linear(p + ".out_proj", d, d, a.out, budget);
  };

  mat("model.encoder.conv1.weight", {d, c.n_mels, 3}, w.conv1.w, enc);
  vec("model.encoder.conv1.bias", {d}, w.conv1.b, enc);
  mat("model.encoder.conv2.weight", {d, d, 3}, w.conv2.w, enc);
  vec("model.encoder.conv2.bias", {d}, w.conv2.b, enc);
  vec("model.encoder.embed_positions.weight", {c.n_audio_ctx, d}, w.encoder_positions, enc);
  w.encoder_layers.resize(static_cast<std::size_t>(c.encoder_layers));
  for (int i = 0; i < c.encoder_layers; ++i) {
    const std::string p = "model.encoder.layers." + std::to_string(i);
    auto& l = w.encoder_layers[static_cast<std::size_t>(i)];
    norm(p + ".self_attn_layer_norm", l.attn_ln, enc);
    attention(p + ".self_attn", l.attn, enc);
    norm(p + ".final_layer_norm", l.mlp_ln, enc);
    linear(p + ".fc1", c.encoder_ffn, d, l.fc1, enc);
    linear(p + ".fc2", d, c.encoder_ffn, l.fc2, enc);
  }
  norm("model.encoder.layer_norm", w.encoder_ln, enc);

  mat("model.decoder.embed_tokens.weight", {c.n_vocab, d}, w.embed_tokens,
      "whisper token embedding");
  vec("model.decoder.embed_positions.weight", {c.n_text_ctx, d}, w.decoder_positions, dec);
  w.decoder_layers.resize(static_cast<std::size_t>(c.decoder_layers));
  for (int i = 0; i < c.decoder_layers; ++i) {
    const std::string p = "model.decoder.layers." + std::to_string(i);
    auto& l = w.decoder_layers[static_cast<std::size_t>(i)];
    norm(p + ".self_attn_layer_norm", l.self_ln, dec);
    attention(p + ".self_attn", l.self_attn, dec);
    norm(p + ".encoder_attn_layer_norm", l.cross_ln, dec);
    attention(p + ".encoder_attn", l.cross_attn, dec);
    norm(p + ".final_layer_norm", l.mlp_ln, dec);
    linear(p + ".fc1", c.decoder_ffn, d, l.fc1, dec);
    linear(p + ".fc2", d, c.decoder_ffn, l.fc2, dec);
  }
  norm("model.decoder.layer_norm", w.decoder_ln, dec);
  mat("proj_out.weight", {c.n_vocab, d}, w.proj_out, "whisper output projection",
      /*optional=*/true);
  return specs;
}

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64;
}

// A layer index beyond the config's depth means config.json and the weights disagree.
void check_no_extra_layers(const SafetensorsFile& file, const WhisperConfig& c) {
  for (const auto& name : file.names()) {
    for (auto [prefix, count, key] :
         {std::tuple{std::string("model.encoder.layers."), c.encoder_layers, "encoder_layers"},
          std::tuple{std::string("model.decoder.layers."), c.decoder_layers, "decoder_layers"}}) {
      if (name.rfind(prefix, 0) != 0) continue;
      const int index = std::atoi(name.c_str() + prefix.size());
      if (index >= count)
        throw WeightFileError(file.label() + ": tensor '" + name + "' belongs to layer " +
                              std::to_string(index) + " but " + c.source + " says " + key + " = " +
                              std::to_string(count) + " (config.json and the weights disagree)");
    }
  }
}

std::string mismatch_hint(const Spec& s, const Shape& got, const WhisperConfig& c) {
  std::string hint;
  if (s.key == "model.encoder.conv1.weight" && got.size() == 3 && got[1] != c.n_mels)
    hint = " (the weights are for a " + std::to_string(got[1]) + "-mel-bin model, config says " +
           "num_mel_bins " + std::to_string(c.n_mels) + ")";
  return hint;
}

}  // namespace

bool WhisperWeights::any_f16() const {
  return embed_tokens.type == WeightType::F16 || conv1.w.type == WeightType::F16;
}

std::unique_ptr<WhisperModel> WhisperModel::load(const std::filesystem::path& dir,
                                                 rt::MemoryBudget& budget) {
  auto model = std::make_unique<WhisperModel>();
  model->config = WhisperConfig::load(dir);
  const WhisperConfig& c = model->config;
  model->tokens = SpecialTokenIds::for_vocab(c.n_vocab);
  model->tokens.check_generation_config(dir / "generation_config.json");

  const auto weights_path = dir / "model.safetensors";
  if (!std::filesystem::exists(weights_path))
    throw WeightFileError(weights_path.string() +
                          ": not found (expected the Hugging Face "
                          "model.safetensors beside config.json)");
  const SafetensorsFile file = SafetensorsFile::open(weights_path);
  check_no_extra_layers(file, c);
  std::vector<Spec> specs = architecture(c, model->weights);

  // Pass 1: check every tensor and add up the plan before reserving a byte.
  std::map<std::string, std::size_t> plan_bytes;
  for (const Spec& s : specs) {
    if (!file.contains(s.key)) {
      if (s.optional) continue;
      throw WeightFileError(file.label() + ": missing tensor '" + s.key + "'");
    }
    const TensorInfo& info = file.info(s.key);
    if (!is_float(info.dtype))
      throw WeightFileError(file.label() + ": tensor '" + s.key + "' has dtype " +
                            dtype_name(info.dtype) + ", expected a floating-point type");
    if (info.shape != s.shape)
      throw WeightFileError(file.label() + ": tensor '" + s.key + "' has shape " +
                            shape_str(info.shape) + " but " + c.source + " implies " +
                            shape_str(s.shape) + mismatch_hint(s, info.shape, c));
    const std::size_t n = static_cast<std::size_t>(product(s.shape, 0));
    const bool half = s.matrix != nullptr && info.dtype == DType::F16;
    plan_bytes[s.budget_name] += n * (half ? 2 : 4);
  }
  std::vector<rt::PlanItem> plan;
  for (const auto& [name, bytes] : plan_bytes) plan.push_back({name, bytes});
  budget.check_plan(plan);

  // Pass 2: reserve and copy.
  for (const Spec& s : specs) {
    if (s.optional && !file.contains(s.key)) continue;
    const TensorInfo& info = file.info(s.key);
    const std::size_t n = static_cast<std::size_t>(product(s.shape, 0));
    if (s.matrix != nullptr) {
      WeightMatrix& m = *s.matrix;
      m.rows = static_cast<int>(s.shape[0]);
      m.cols = static_cast<int>(product(s.shape, 1));
      if (info.dtype == DType::F16) {
        m.type = WeightType::F16;
        m.storage = budget.reserve(s.budget_name, n * 2);
        const auto raw = file.bytes(s.key);
        std::memcpy(m.storage.data(), raw.data(), n * 2);
      } else {
        m.type = WeightType::F32;
        m.storage = budget.reserve(s.budget_name, n * 4);
        file.read_f32(s.key, m.storage.as<float>().subspan(0, n));
      }
      model->weight_bytes += m.storage.bytes();
    } else {
      VectorWeight& v = *s.vector;
      v.size = static_cast<int>(n);
      v.storage = budget.reserve(s.budget_name, n * 4);
      file.read_f32(s.key, v.storage.as<float>().subspan(0, n));
      model->weight_bytes += v.storage.bytes();
    }
  }
  return model;
}

std::unique_ptr<WhisperModel> WhisperModel::random(const WhisperConfig& config,
                                                   rt::MemoryBudget& budget, bool f16,
                                                   unsigned seed) {
  config.validate();
  auto model = std::make_unique<WhisperModel>();
  model->config = config;
  model->tokens = SpecialTokenIds::for_vocab(config.n_vocab);
  std::vector<Spec> specs = architecture(config, model->weights);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Spec& s : specs) {
    if (s.optional) continue;  // proj_out stays tied
    const std::size_t n = static_cast<std::size_t>(product(s.shape, 0));
    if (s.matrix != nullptr) {
      WeightMatrix& m = *s.matrix;
      m.rows = static_cast<int>(s.shape[0]);
      m.cols = static_cast<int>(product(s.shape, 1));
      m.type = f16 ? WeightType::F16 : WeightType::F32;
      m.storage = budget.reserve(s.budget_name, WeightMatrix::bytes_for(m.type, m.rows, m.cols));
      const float scale = 1.0f / std::sqrt(static_cast<float>(m.cols));
      for (std::size_t i = 0; i < n; ++i) {
        const float value = normal(rng) * scale;
        if (f16)
          m.mutable_f16()[i] = f32_to_f16(value);
        else
          m.mutable_f32()[i] = value;
      }
      model->weight_bytes += m.storage.bytes();
    } else {
      VectorWeight& v = *s.vector;
      v.size = static_cast<int>(n);
      v.storage = budget.reserve(s.budget_name, n * 4);
      const bool is_gamma = s.key.size() > 7 && s.key.find("norm.weight") != std::string::npos;
      float* out = v.storage.as<float>().data();
      for (std::size_t i = 0; i < n; ++i) out[i] = (is_gamma ? 1.0f : 0.0f) + 0.1f * normal(rng);
      model->weight_bytes += v.storage.bytes();
    }
  }
  return model;
}

}  // namespace earshot::models::whisper
