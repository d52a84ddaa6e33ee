// HTDemucs weights under demucs' own state-dict names, loaded into budgeted memory.
//
// Every tensor's shape is derived from the config and checked, and every tensor in the file
// must be used: a config that does not match the weights (other depth, channels, sources,
// transformer width...) is a clear WeightFileError naming the tensor, never a silent mismatch.
#pragma once

#include "models/core/safetensors.hpp"
#include "models/core/tensor.hpp"
#include "models/htdemucs/config.hpp"

#include <string>
#include <vector>

namespace earshot::htdemucs {

using models::Tensor;

struct ConvW {
  Tensor w, b;
};
struct NormW {
  Tensor g, b;  // GroupNorm / LayerNorm affine; empty when the layer has no norm
  bool present() const { return !g.empty(); }
};
// One residual layer of DConv: dilated conv, GN, GELU, 1x1 conv, GN, GLU, LayerScale.
struct DConvLayerW {
  int dilation = 1;
  ConvW conv1;
  NormW norm1;
  ConvW conv2;
  NormW norm2;
  Tensor scale;
};
struct EncoderW {
  ConvW conv;
  NormW norm1;
  ConvW rewrite;
  NormW norm2;
  std::vector<DConvLayerW> dconv;
};
struct DecoderW {
  ConvW conv_tr;
  NormW norm2;
  ConvW rewrite;
  NormW norm1;
  std::vector<DConvLayerW> dconv;
};
// The transformer's Linear weights (in_w, out_w, linear1_w, linear2_w) are repacked at load into
// tiled_gemm's column panels (models/core/tiled_gemm.hpp): same size and shape, not torch's
// element order. in_w holds q, k and v one after the other, each packed on its own.
struct AttentionW {
  Tensor in_w, in_b, out_w, out_b;  // in_proj packs q, k, v: [3D, D]
};
struct XLayerW {
  bool cross = false;
  AttentionW attn;
  Tensor linear1_w, linear1_b, linear2_w, linear2_b;
  NormW norm1, norm2, norm3;  // norm3 only in cross layers
  NormW norm_out;
  Tensor gamma1, gamma2;  // LayerScale; empty without t_layer_scale
};

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

struct HTDemucsWeights {
  // Index = level (encoder[i], tencoder[i]); decoders likewise stored by level, so
  // decoder[level] is demucs' decoder[depth - 1 - level].
  std::vector<EncoderW> encoder, tencoder;
  std::vector<DecoderW> decoder, tdecoder;
  Tensor freq_emb;  // [freqs, channels], already multiplied by emb_scale; empty when unused
  ConvW up, down, up_t, down_t;  // channel_(up|down)sampler(_t); empty without bottom_channels
  NormW norm_in, norm_in_t;
  std::vector<XLayerW> layers, layers_t;

  // Loads and checks everything; `tag` prefixes the budget names (e.g. "htdemucs/0").
  static HTDemucsWeights load(const models::SafetensorsFile& file, const HTDemucsConfig& config,
                              rt::MemoryBudget& budget, const std::string& tag);
  // Every tensor a config implies, in load order (to build random-weight models in memory).
  static std::vector<TensorSpec> expected_tensors(const HTDemucsConfig& config);
};

}  // namespace earshot::htdemucs
