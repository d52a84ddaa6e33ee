// HTDemucs constructor arguments (config.json "kwargs") and the layer geometry they imply.
//
// The config is the one demucs' `HTDemucs(**kwargs)` takes. Only the inference-relevant subset
// is kept; options that change the architecture in ways this port does not implement (Wiener
// filtering, masking without CaC, MultiWrap bands, sparse attention, CAPE embeddings, a time
// branch that merges into the frequency branch) are refused with a ConfigError rather than
// silently computed wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace earshot::htdemucs {

// One encoder/decoder level of either branch.
struct LevelShape {
  int enc_in = 0;     // channels into the encoder conv
  int enc_out = 0;    // channels out of the encoder (= decoder's input)
  int dec_out = 0;    // channels out of the decoder's transposed conv
  bool norm = false;  // GroupNorm(norm_groups) in the convs of this level
  bool last = false;  // outermost decoder: no GELU after the transposed conv
};

struct HTDemucsConfig {
  std::vector<std::string> sources;
  int audio_channels = 2;
  int samplerate = 44100;
  // The training segment as an exact fraction of seconds (demucs keeps a Fraction).
  std::int64_t segment_num = 0;
  std::int64_t segment_den = 1;
  int channels = 48;
  int growth = 2;
  int nfft = 4096;
  int depth = 4;
  int kernel_size = 8;
  int stride = 4;
  int context = 1;      // decoder rewrite conv: kernel 1 + 2 * context
  int context_enc = 0;  // encoder rewrite conv: kernel 1 + 2 * context_enc
  int norm_starts = 4;
  int norm_groups = 4;
  int dconv_mode = 1;  // bit 1: DConv in the encoder, bit 2: in the decoder
  int dconv_depth = 2;
  double dconv_comp = 8;
  double freq_emb = 0.2;  // weight of the frequency embedding (0: none)
  double emb_scale = 10;
  int bottom_channels = 0;
  int t_layers = 5;
  int t_heads = 8;
  double t_hidden_scale = 4.0;
  double t_max_period = 10000.0;
  double t_weight_pos_embed = 1.0;
  bool t_cross_first = false;
  bool t_layer_scale = true;
  bool t_gelu = true;
  bool t_norm_in = true;
  bool t_norm_out = true;

  // Parses config.json (throws models::ConfigError naming the file and the key).
  static HTDemucsConfig from_json_file(const std::filesystem::path& path);

  // int(Fraction(num, den) * samplerate): the one length the model runs on.
  std::int64_t training_length() const;
  int num_sources() const { return static_cast<int>(sources.size()); }
  int hop_length() const { return nfft / 4; }
  int freq_bins() const { return nfft / 2; }  // the Nyquist bin is dropped
  // STFT frames of a training segment: ceil(L / hop).
  int frames() const;
  // Channels at the bottom of the U-Nets and the transformer width.
  int bottom_unet_channels() const;
  int transformer_dim() const {
    return bottom_channels > 0 ? bottom_channels : bottom_unet_channels();
  }
  int dconv_hidden(int channels_in) const { return static_cast<int>(channels_in / dconv_comp); }
  // Frequency rows after the encoder level `index` (nfft/2 / stride^(index+1)).
  int freqs_after(int index) const;
  // Time-branch lengths: entry i is the length into tencoder[i]; entry depth the bottom length.
  std::vector<std::int64_t> time_lengths() const;
  // Level i: encoder[i] / tencoder[i] and the decoder that mirrors it (decoder[depth-1-i]).
  LevelShape freq_level(int index) const;
  LevelShape time_level(int index) const;
};

}  // namespace earshot::htdemucs
