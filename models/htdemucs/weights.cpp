#include "models/htdemucs/weights.hpp"

#include "models/core/tiled_gemm.hpp"

#include <set>

namespace earshot::htdemucs {
namespace {

using models::SafetensorsFile;
using models::WeightFileError;
using Shape = std::vector<std::int64_t>;

// Hands out tensors by name and expected shape. The file loader checks and loads them; the
// spec recorder only lists them (for building random-weight models in memory).
class Loader {
 public:
  virtual ~Loader() = default;
  virtual Tensor get(const std::string& name, const Shape& shape) = 0;

  ConvW conv(const std::string& prefix, const Shape& shape) {
    ConvW c;
    c.w = get(prefix + ".weight", shape);
    c.b = get(prefix + ".bias", {shape[0]});
    return c;
  }
  ConvW conv_tr(const std::string& prefix, const Shape& shape) {
    ConvW c;
    c.w = get(prefix + ".weight", shape);
    c.b = get(prefix + ".bias", {shape[1]});
    return c;
  }
  NormW norm(const std::string& prefix, std::int64_t channels) {
    NormW n;
    n.g = get(prefix + ".weight", {channels});
    n.b = get(prefix + ".bias", {channels});
    return n;
  }
};

class FileLoader : public Loader {
 public:
  FileLoader(const SafetensorsFile& file, rt::MemoryBudget& budget, std::string tag)
      : file_(file), budget_(budget), tag_(std::move(tag)) {}

  Tensor get(const std::string& name, const Shape& shape) override {
    if (!file_.contains(name))
      throw WeightFileError(file_.label() + ": missing tensor '" + name +
                            "' (the config does not match these weights?)");
    const auto& info = file_.info(name);
    if (info.shape != shape) {
      std::string want = "[";
      for (std::size_t i = 0; i < shape.size(); ++i)
        want += (i ? ", " : "") + std::to_string(shape[i]);
      want += "]";
      throw WeightFileError(file_.label() + ": tensor '" + name + "' has shape " +
                            info.shape_string() + " but the config implies " + want +
                            " (the config does not match these weights)");
    }
    used_.insert(name);
    return models::load_tensor_f32(file_, name, budget_, tag_ + "/weights", shape);
  }
  void check_all_used() const {
    for (const auto& name : file_.names()) {
      if (used_.count(name) == 0)
        throw WeightFileError(file_.label() + ": unexpected tensor '" + name +
                              "' (the config does not match these weights)");
    }
  }

 private:
  const SafetensorsFile& file_;
  rt::MemoryBudget& budget_;
  std::string tag_;
  std::set<std::string> used_;
};

class SpecRecorder : public Loader {
 public:
  Tensor get(const std::string& name, const Shape& shape) override {
    specs.push_back({name, shape});
    return {};
  }
  std::vector<TensorSpec> specs;
};

std::vector<DConvLayerW> load_dconv(Loader& ld, const std::string& prefix, const HTDemucsConfig& c,
                                    int channels) {
  std::vector<DConvLayerW> layers;
  const int hidden = c.dconv_hidden(channels);
  for (int d = 0; d < c.dconv_depth; ++d) {
    const std::string p = prefix + ".dconv.layers." + std::to_string(d);
    DConvLayerW l;
    l.dilation = 1 << d;
    l.conv1 = ld.conv(p + ".0", {hidden, channels, 3});
    l.norm1 = ld.norm(p + ".1", hidden);
    l.conv2 = ld.conv(p + ".3", {2 * channels, hidden, 1});
    l.norm2 = ld.norm(p + ".4", 2 * channels);
    l.scale = ld.get(p + ".6.scale", {channels});
    layers.push_back(std::move(l));
  }
  return layers;
}

EncoderW load_encoder(Loader& ld, const std::string& prefix, const HTDemucsConfig& c,
                      const LevelShape& s, bool freq) {
  EncoderW e;
  const int k = c.kernel_size;
  const int kr = 1 + 2 * c.context_enc;
  e.conv = ld.conv(prefix + ".conv",
                   freq ? Shape{s.enc_out, s.enc_in, k, 1} : Shape{s.enc_out, s.enc_in, k});
  if (s.norm) e.norm1 = ld.norm(prefix + ".norm1", s.enc_out);
  e.rewrite = ld.conv(prefix + ".rewrite", freq ? Shape{2 * s.enc_out, s.enc_out, kr, kr}
                                                : Shape{2 * s.enc_out, s.enc_out, kr});
  if (s.norm) e.norm2 = ld.norm(prefix + ".norm2", 2 * s.enc_out);
  if (c.dconv_mode & 1) e.dconv = load_dconv(ld, prefix, c, s.enc_out);
  return e;
}

DecoderW load_decoder(Loader& ld, const std::string& prefix, const HTDemucsConfig& c,
                      const LevelShape& s, bool freq) {
  DecoderW d;
  const int k = c.kernel_size;
  const int kr = 1 + 2 * c.context;
  d.conv_tr = ld.conv_tr(prefix + ".conv_tr",
                         freq ? Shape{s.enc_out, s.dec_out, k, 1} : Shape{s.enc_out, s.dec_out, k});
  if (s.norm) d.norm2 = ld.norm(prefix + ".norm2", s.dec_out);
  d.rewrite = ld.conv(prefix + ".rewrite", freq ? Shape{2 * s.enc_out, s.enc_out, kr, kr}
                                                : Shape{2 * s.enc_out, s.enc_out, kr});
  if (s.norm) d.norm1 = ld.norm(prefix + ".norm1", 2 * s.enc_out);
  if (c.dconv_mode & 2) d.dconv = load_dconv(ld, prefix, c, s.enc_out);
  return d;
}

// A torch Linear weight [out, in] (`blocks` of them stacked, as in_proj's q, k, v) repacked in
// place into tiled_gemm's column panels of its transpose: the transformer's products read the
// weights that way (models/core/tiled_gemm.hpp). The plain copy lives only during the load.
void pack_linear(Tensor& w, std::int64_t out, std::int64_t in, int blocks = 1) {
  if (w.numel() != blocks * out * in) return;  // expected_tensors() records shapes only
  const std::vector<float> plain(w.data(), w.data() + blocks * out * in);
  for (int b = 0; b < blocks; ++b)
    models::pack_tiled_weights_transposed(in, out, plain.data() + b * out * in, in,
                                          w.data() + b * out * in);
}

XLayerW load_xlayer(Loader& ld, const std::string& prefix, const HTDemucsConfig& c, bool cross) {
  XLayerW l;
  l.cross = cross;
  const std::int64_t D = c.transformer_dim();
  const auto hidden = static_cast<std::int64_t>(D * c.t_hidden_scale);
  const std::string a = prefix + (cross ? ".cross_attn" : ".self_attn");
  l.attn.in_w = ld.get(a + ".in_proj_weight", {3 * D, D});
  l.attn.in_b = ld.get(a + ".in_proj_bias", {3 * D});
  l.attn.out_w = ld.get(a + ".out_proj.weight", {D, D});
  l.attn.out_b = ld.get(a + ".out_proj.bias", {D});
  l.linear1_w = ld.get(prefix + ".linear1.weight", {hidden, D});
  l.linear1_b = ld.get(prefix + ".linear1.bias", {hidden});
  l.linear2_w = ld.get(prefix + ".linear2.weight", {D, hidden});
  l.linear2_b = ld.get(prefix + ".linear2.bias", {D});
  pack_linear(l.attn.in_w, D, D, 3);
  pack_linear(l.attn.out_w, D, D);
  pack_linear(l.linear1_w, hidden, D);
  pack_linear(l.linear2_w, D, hidden);
  l.norm1 = ld.norm(prefix + ".norm1", D);
  l.norm2 = ld.norm(prefix + ".norm2", D);
  if (cross) l.norm3 = ld.norm(prefix + ".norm3", D);
  if (c.t_norm_out) l.norm_out = ld.norm(prefix + ".norm_out", D);
  if (c.t_layer_scale) {
    l.gamma1 = ld.get(prefix + ".gamma_1.scale", {D});
    l.gamma2 = ld.get(prefix + ".gamma_2.scale", {D});
  }
  return l;
}

HTDemucsWeights load_all(Loader& ld, const HTDemucsConfig& c) {
  HTDemucsWeights w;
  for (int i = 0; i < c.depth; ++i) {
    const std::string idx = std::to_string(i);
    const std::string didx = std::to_string(c.depth - 1 - i);
    w.encoder.push_back(load_encoder(ld, "encoder." + idx, c, c.freq_level(i), true));
    w.tencoder.push_back(load_encoder(ld, "tencoder." + idx, c, c.time_level(i), false));
    w.decoder.push_back(load_decoder(ld, "decoder." + didx, c, c.freq_level(i), true));
    w.tdecoder.push_back(load_decoder(ld, "tdecoder." + didx, c, c.time_level(i), false));
  }
  if (c.freq_emb > 0.0) {
    w.freq_emb = ld.get("freq_emb.embedding.weight", {c.freqs_after(0), c.channels});
    // ScaledEmbedding returns weight * scale.
    for (float& v : w.freq_emb.span()) v *= static_cast<float>(c.emb_scale);
  }
  if (c.t_layers > 0) {
    const std::int64_t U = c.bottom_unet_channels();
    if (c.bottom_channels > 0) {
      const std::int64_t B = c.bottom_channels;
      w.up = ld.conv("channel_upsampler", {B, U, 1});
      w.down = ld.conv("channel_downsampler", {U, B, 1});
      w.up_t = ld.conv("channel_upsampler_t", {B, U, 1});
      w.down_t = ld.conv("channel_downsampler_t", {U, B, 1});
    }
    if (c.t_norm_in) {
      w.norm_in = ld.norm("crosstransformer.norm_in", c.transformer_dim());
      w.norm_in_t = ld.norm("crosstransformer.norm_in_t", c.transformer_dim());
    }
    const int classic_parity = c.t_cross_first ? 1 : 0;
    for (int i = 0; i < c.t_layers; ++i) {
      const bool cross = (i % 2) != classic_parity;
      const std::string idx = std::to_string(i);
      w.layers.push_back(load_xlayer(ld, "crosstransformer.layers." + idx, c, cross));
      w.layers_t.push_back(load_xlayer(ld, "crosstransformer.layers_t." + idx, c, cross));
    }
  }
  return w;
}

}  // namespace

HTDemucsWeights HTDemucsWeights::load(const SafetensorsFile& file, const HTDemucsConfig& c,
                                      rt::MemoryBudget& budget, const std::string& tag) {
  FileLoader ld(file, budget, tag);
  HTDemucsWeights w = load_all(ld, c);
  ld.check_all_used();
  return w;
}

std::vector<TensorSpec> HTDemucsWeights::expected_tensors(const HTDemucsConfig& c) {
  SpecRecorder rec;
  load_all(rec, c);
  return rec.specs;
}

}  // namespace earshot::htdemucs
