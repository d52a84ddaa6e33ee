#include "models/encodec/parameter_list.hpp"

namespace earshot::encodec {
namespace {

struct Lister {
  const EncodecConfig& c;
  std::vector<ParameterShape> out;

  // `transposed`: ConvTranspose1d weight [in, out, k] (weight norm over dim 0 = in).
  void conv(const std::string& layer, std::int64_t in, std::int64_t out_ch, std::int64_t k,
            bool transposed = false) {
    const std::int64_t d0 = transposed ? in : out_ch;
    const std::int64_t d1 = transposed ? out_ch : in;
    if (c.norm_type == NormType::kWeightNorm) {
      out.push_back({layer + ".conv.weight_g", {d0, 1, 1}});
      out.push_back({layer + ".conv.weight_v", {d0, d1, k}});
    } else {
      out.push_back({layer + ".conv.weight", {d0, d1, k}});
    }
    out.push_back({layer + ".conv.bias", {out_ch}});
    if (c.norm_type == NormType::kTimeGroupNorm) {
      out.push_back({layer + ".norm.weight", {out_ch}});
      out.push_back({layer + ".norm.bias", {out_ch}});
    }
  }
  void block(const std::string& layer, std::int64_t ch) {
    conv(layer + ".block.1", ch, ch / c.compress, c.residual_kernel_size);
    conv(layer + ".block.3", ch / c.compress, ch, 1);
    if (c.use_conv_shortcut) conv(layer + ".shortcut", ch, ch, 1);
  }
  void lstm(const std::string& layer, std::int64_t size) {
    for (int l = 0; l < c.num_lstm_layers; ++l) {
      const std::string s = std::to_string(l);
      out.push_back({layer + ".lstm.weight_ih_l" + s, {4 * size, size}});
      out.push_back({layer + ".lstm.weight_hh_l" + s, {4 * size, size}});
      out.push_back({layer + ".lstm.bias_ih_l" + s, {4 * size}});
      out.push_back({layer + ".lstm.bias_hh_l" + s, {4 * size}});
    }
  }
};

std::string at(const char* part, int index) {
  return std::string(part) + ".layers." + std::to_string(index);
}

}  // namespace

std::vector<ParameterShape> encodec_parameter_shapes(const EncodecConfig& c) {
  Lister l{c, {}};
  int i = 0;
  l.conv(at("encoder", i++), c.audio_channels, c.num_filters, c.kernel_size);
  std::int64_t scaling = 1;
  for (auto it = c.upsampling_ratios.rbegin(); it != c.upsampling_ratios.rend(); ++it) {
    const std::int64_t ch = scaling * c.num_filters;
    for (int j = 0; j < c.num_residual_layers; ++j) l.block(at("encoder", i++), ch);
    ++i;  // ELU
    l.conv(at("encoder", i++), ch, 2 * ch, 2 * *it);
    scaling *= 2;
  }
  l.lstm(at("encoder", i++), scaling * c.num_filters);
  ++i;  // ELU
  l.conv(at("encoder", i++), scaling * c.num_filters, c.hidden_size, c.last_kernel_size);

  i = 0;
  l.conv(at("decoder", i++), c.hidden_size, scaling * c.num_filters, c.kernel_size);
  l.lstm(at("decoder", i++), scaling * c.num_filters);
  for (int ratio : c.upsampling_ratios) {
    const std::int64_t ch = scaling * c.num_filters;
    ++i;  // ELU
    l.conv(at("decoder", i++), ch, ch / 2, 2 * ratio, true);
    for (int j = 0; j < c.num_residual_layers; ++j) l.block(at("decoder", i++), ch / 2);
    scaling /= 2;
  }
  ++i;  // ELU
  l.conv(at("decoder", i++), c.num_filters, c.audio_channels, c.last_kernel_size);

  for (int q = 0; q < c.num_quantizers(); ++q) {
    const std::string base = "quantizer.layers." + std::to_string(q) + ".codebook.";
    l.out.push_back({base + "inited", {1}});
    l.out.push_back({base + "cluster_size", {c.codebook_size}});
    l.out.push_back({base + "embed", {c.codebook_size, c.codebook_dim}});
    l.out.push_back({base + "embed_avg", {c.codebook_size, c.codebook_dim}});
  }
  return l.out;
}

}  // namespace earshot::encodec
