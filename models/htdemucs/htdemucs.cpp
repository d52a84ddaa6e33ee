#include "models/htdemucs/htdemucs.hpp"

#include "models/htdemucs/dconv.hpp"
#include "models/htdemucs/freq_encoder_rows.hpp"
#include "models/htdemucs/pointwise_glu.hpp"

// Eigen's AVX-512 headers trip GCC 12's -Wmaybe-uninitialized inside the compiler's own headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {
namespace {

// Mean and unbiased std (torch.std) over n floats: vectorised float sums over blocks of
// kBlock, each block's sum in double in `partial`, added in block order (the result does not
// depend on the worker count).
constexpr std::int64_t kStatBlock = 4096;
std::int64_t stat_blocks(std::int64_t n) {
  return (n + kStatBlock - 1) / kStatBlock;
}
void mean_std(const float* x, std::int64_t n, double* partial, Workers& workers, double& mean,
              double& std) {
  using CArr = Eigen::Map<const Eigen::ArrayXf>;
  const std::int64_t blocks = stat_blocks(n);
  auto block = [&](std::int64_t b) {
    return CArr(x + b * kStatBlock, std::min(kStatBlock, n - b * kStatBlock));
  };
  workers.run(blocks, 1, [&](std::int64_t b0, std::int64_t b1, int) {
    for (std::int64_t b = b0; b < b1; ++b) partial[b] = block(b).sum();
  });
  double sum = 0.0;
  for (std::int64_t b = 0; b < blocks; ++b) sum += partial[b];
  mean = sum / static_cast<double>(n);
  const auto m = static_cast<float>(mean);
  workers.run(blocks, 1, [&](std::int64_t b0, std::int64_t b1, int) {
    for (std::int64_t b = b0; b < b1; ++b) partial[b] = (block(b) - m).square().sum();
  });
  double var = 0.0;
  for (std::int64_t b = 0; b < blocks; ++b) var += partial[b];
  std = std::sqrt(var / static_cast<double>(n - 1));
}

// y = (x - mean) / (1e-5 + std) in float32, as torch evaluates it.
void normalise(const float* x, std::int64_t n, double mean, double std, float* y,
               Workers& workers) {
  const auto m = static_cast<float>(mean);
  const float d = 1e-5f + static_cast<float>(std);
  workers.run(n, 4096, [&](std::int64_t b, std::int64_t e, int) {
    Eigen::Map<Eigen::ArrayXf>(y + b, e - b) =
        (Eigen::Map<const Eigen::ArrayXf>(x + b, e - b) - m) / d;
  });
}

// x += y over n floats.
void add_inplace(float* x, const float* y, std::int64_t n, Workers& workers) {
  workers.run(n, 4096, [&](std::int64_t b, std::int64_t e, int) {
    Eigen::Map<Eigen::ArrayXf>(x + b, e - b) += Eigen::Map<const Eigen::ArrayXf>(y + b, e - b);
  });
}

ConvGeom enc_conv_geom(const HTDemucsConfig& c, bool freq) {
  ConvGeom g;
  if (freq) {
    g.kh = c.kernel_size;
    g.sh = c.stride;
    g.ph = c.kernel_size / 4;
  } else {
    g.kw = c.kernel_size;
    g.sw = c.stride;
    g.pw = c.kernel_size / 4;
  }
  return g;
}

FreqRowsGeom freq_rows_geom(const HTDemucsConfig& c) {
  return {c.kernel_size, c.stride, c.kernel_size / 4};
}

ConvGeom rewrite_geom(int context, bool freq) {
  ConvGeom g;
  g.kw = 1 + 2 * context;
  g.pw = context;
  if (freq) {  // Conv2d with an int kernel: square, over (freq, time)
    g.kh = 1 + 2 * context;
    g.ph = context;
  }
  return g;
}

}  // namespace

float* HTDemucsWorkspace::take(rt::MemoryBudget& budget, const std::string& name,
                               std::int64_t floats) {
  if (building) {
    blocks.push_back(budget.reserve_array<float>(name, static_cast<std::size_t>(floats)));
    return blocks.back().as<float>().data();
  }
  if (cursor >= blocks.size() || blocks[cursor].bytes() < static_cast<std::size_t>(floats) * 4)
    throw std::logic_error("HTDemucsWorkspace: shared workspace does not fit this model");
  return blocks[cursor++].as<float>().data();
}

std::unique_ptr<HTDemucs> HTDemucs::load(const std::string& dir, rt::MemoryBudget& budget,
                                         const std::string& tag,
                                         std::shared_ptr<HTDemucsWorkspace> shared_workspace,
                                         rt::Parallel* parallel) {
  auto config = HTDemucsConfig::from_json_file(std::filesystem::path(dir) / "config.json");
  auto file = models::SafetensorsFile::open(std::filesystem::path(dir) / "model.safetensors");
  return std::make_unique<HTDemucs>(std::move(config), file, budget, tag,
                                    std::move(shared_workspace), parallel);
}

HTDemucs::HTDemucs(HTDemucsConfig config, const models::SafetensorsFile& file,
                   rt::MemoryBudget& budget, const std::string& tag,
                   std::shared_ptr<HTDemucsWorkspace> shared_workspace, rt::Parallel* parallel)
    : config_(std::move(config)),
      weights_(HTDemucsWeights::load(file, config_, budget, tag)),
      length_(config_.training_length()),
      frames_(config_.frames()) {
  const auto& c = config_;
  const int C = c.audio_channels;
  const int S = c.num_sources();
  const auto tl = c.time_lengths();
  for (int i = 0; i < c.depth; ++i) {
    fgeom_.push_back(
        {i == 0 ? c.freq_bins() : c.freqs_after(i - 1), c.freqs_after(i), frames_, frames_});
    tgeom_.push_back({1, 1, tl[i], tl[i + 1]});
  }

  // Everything the buffer sizes depend on; equal strings share a workspace.
  std::string geometry;
  for (std::int64_t v :
       {std::int64_t{C}, std::int64_t{S}, std::int64_t{c.channels}, std::int64_t{c.growth},
        std::int64_t{c.nfft}, std::int64_t{c.depth}, std::int64_t{c.kernel_size},
        std::int64_t{c.stride}, std::int64_t{c.context}, std::int64_t{c.context_enc},
        std::int64_t{c.bottom_channels}, std::int64_t{c.t_layers},
        std::int64_t{c.dconv_hidden(c.channels)}, std::int64_t{c.dconv_depth},
        std::int64_t{c.norm_starts}, length_, std::int64_t{rt::parallel_size(parallel)}})
    geometry += std::to_string(v) + ",";
  if (shared_workspace && shared_workspace->geometry == geometry && !shared_workspace->building) {
    ws_ = std::move(shared_workspace);
    ws_->cursor = 0;
  } else {
    ws_ = std::make_shared<HTDemucsWorkspace>();
    ws_->geometry = geometry;
  }
  const std::string ws_name = tag + "/activations";
  auto reserve = [&](std::int64_t n) { return ws_->take(budget, ws_name, n); };
  std::int64_t max_y = 0, max_hid = 0, max_run = 0, max_trun = 0, max_k = 0, max_n = 0;
  for (int i = 0; i < c.depth; ++i) {
    const LevelShape fs = c.freq_level(i), ts = c.time_level(i);
    const std::int64_t fplane = static_cast<std::int64_t>(fgeom_[i].h_out) * frames_;
    const std::int64_t tplane = tgeom_[i].w_out;
    saved_.push_back(reserve(fs.enc_out * fplane));
    saved_t_.push_back(reserve(ts.enc_out * tplane));
    max_y = std::max({max_y, fs.enc_out * fplane, ts.enc_out * tplane});
    max_hid = std::max(
        {max_hid, c.dconv_hidden(fs.enc_out) * fplane, c.dconv_hidden(ts.enc_out) * tplane});
    max_run = std::max({max_run, fs.enc_out * fplane,
                        fs.dec_out * static_cast<std::int64_t>(fgeom_[i].h_in) * frames_});
    max_trun = std::max({max_trun, ts.enc_out * tplane, ts.dec_out * tgeom_[i].w_in});
    // im2col sizes: K of every conv, M of every transposed conv.
    const int kr = 1 + 2 * std::max(c.context, c.context_enc);
    max_k = std::max<std::int64_t>({max_k, static_cast<std::int64_t>(fs.enc_in) * c.kernel_size,
                                    static_cast<std::int64_t>(fs.enc_out) * kr * kr,
                                    static_cast<std::int64_t>(fs.enc_out) * 3,
                                    static_cast<std::int64_t>(fs.dec_out) * c.kernel_size});
    max_n = std::max({max_n, static_cast<std::int64_t>(fgeom_[i].h_in) * frames_, tgeom_[i].w_in});
  }
  mix_ = reserve(C * length_);
  z_ = reserve(2 * C * static_cast<std::int64_t>(c.freq_bins()) * frames_);
  xt_ = reserve(C * length_);
  y_ = reserve(max_y);
  z2_ = reserve(2 * max_y);
  hid_ = reserve(std::max<std::int64_t>(max_hid, 1));
  run_a_ = reserve(max_run);
  run_b_ = reserve(max_run);
  trun_a_ = reserve(max_trun);
  trun_b_ = reserve(max_trun);
  freq_out_ = reserve(S * C * length_);
  // im2col works in cache-sized column blocks, so this bounds the scratch without changing
  // any result.
  std::int64_t max_dconv_worker = 0, max_dconv_stats = 0;
  for (int i = 0; i < c.depth; ++i) {
    for (const bool freq : {true, false}) {
      const int ch = (freq ? c.freq_level(i) : c.time_level(i)).enc_out;
      const LevelGeom& g = freq ? fgeom_[i] : tgeom_[i];
      // Encoders run DConv on [ch][h_out][w_out], decoders on the same shape.
      max_dconv_worker = std::max(max_dconv_worker, dconv_worker_floats(ch, c.dconv_hidden(ch)));
      // A time-branch encoder's rewrite reads the last DConv layer's tiles from there too.
      if (!freq)
        max_dconv_worker = std::max(max_dconv_worker, dconv_sink_floats(ch, c.dconv_hidden(ch)));
      max_dconv_stats =
          std::max(max_dconv_stats,
                   dconv_stats_doubles(ch, c.dconv_hidden(ch), g.h_out, g.w_out, c.dconv_depth));
    }
  }
  // The fused conv + GLU keeps a block's 2C outputs next to its im2col columns.
  std::int64_t max_c2 = 0;
  for (int i = 0; i < c.depth; ++i)
    max_c2 = std::max<std::int64_t>(
        {max_c2, 2LL * c.freq_level(i).enc_out, 2LL * c.time_level(i).enc_out});
  // Frequency encoder levels that run fused row by row keep a row and its DConv scratch per
  // worker (freq_encoder_rows.hpp).
  std::int64_t max_rows_worker = 0;
  for (int i = 0; i < c.depth; ++i) {
    const LevelShape fs = c.freq_level(i);
    const Act in{nullptr, fs.enc_in, fgeom_[i].h_in, frames_};
    const Act out{nullptr, fs.enc_out, fgeom_[i].h_out, frames_};
    const FreqRowsGeom rg = freq_rows_geom(c);
    if (!freq_rows_supported(weights_.encoder[i], rg, in, out)) continue;
    const int hidden = c.dconv_hidden(fs.enc_out);
    max_rows_worker =
        std::max(max_rows_worker, freq_rows_worker_floats(fs.enc_out, hidden, frames_));
    max_dconv_stats =
        std::max(max_dconv_stats,
                 freq_rows_shared_doubles(hidden, c.dconv_depth, rt::parallel_size(parallel)));
  }
  const std::int64_t col_capacity =
      std::max({conv_scratch_floats(max_k + max_c2, max_n), max_dconv_worker, max_rows_worker});
  workers_.parallel = parallel;
  for (int w = 0; w < workers_.size(); ++w) {
    workers_.cols.push_back({reserve(col_capacity), static_cast<std::size_t>(col_capacity)});
    gemm_.push_back(std::make_unique<GemmWorkspace>(reserve(GemmWorkspace::floats_needed())));
    workers_.gemm.push_back(gemm_.back().get());
  }
  dconv_stats_ = reinterpret_cast<double*>(reserve(2 * max_dconv_stats));

  spec_ = std::make_unique<DemucsSpectrogram>(c.nfft, length_, budget, tag, workers_.size());
  partial_ = reinterpret_cast<double*>(reserve(
      2 * stat_blocks(std::max<std::int64_t>(2LL * C * c.freq_bins() * frames_, C * length_))));
  if (c.t_layers > 0) {
    const int D = c.transformer_dim();
    bottom_ = reserve(static_cast<std::int64_t>(D) * fgeom_.back().h_out * frames_);
    bottom_t_ = reserve(static_cast<std::int64_t>(D) * tl.back());
    transformer_ = std::make_unique<CrossTransformer>(c, weights_, fgeom_.back().h_out, frames_,
                                                      tl.back(), workers_.size(), budget, tag);
  }
  ws_->building = false;  // complete: later models of this geometry may share it
}

void HTDemucs::tap(std::string_view stage, const float* data, std::int64_t n) {
  if (probe_ != nullptr) probe_->tap(stage, {data, static_cast<std::size_t>(n)});
}

void HTDemucs::dconv(const std::vector<DConvLayerW>& layers, const Act& y) {
  // Each residual layer: y += scale * GLU(GN(conv1x1(GELU(GN(dilated conv3(y)))))), fused
  // (dconv.hpp). In the frequency branch every frequency row is its own batch item, hence
  // per-row norms.
  dconv_layers(layers, y, hid_, dconv_stats_, workers_);
}

namespace {

// The encoder's 1x1 rewrite + GLU as the consumer of the last DConv layer's tiles.
class RewriteSink final : public DConvTileSink {
 public:
  RewriteSink(const EncoderW& w, const Act& out) : w_(w), out_(out) {}
  void consume(const float* tile, std::int64_t tile_plane, int row, std::int64_t p0,
               std::int64_t p1, int) override {
    pointwise_glu(tile, tile_plane, out_.c, out_.c, w_.rewrite.w.data(), w_.rewrite.b.data(), 0,
                  p1 - p0, out_.data + row * out_.w + p0, out_.plane());
  }

 private:
  const EncoderW& w_;
  const Act& out_;
};

}  // namespace

bool HTDemucs::rewrite_from_dconv_tiles(const EncoderW& w, const Act& y, const Act& out) const {
  const bool pointwise = w.rewrite.w.numel() == 2LL * out.c * out.c;
  return !w.norm2.present() && pointwise && !w.dconv.empty() && !w.rewrite.b.empty() &&
         pointwise_glu_supported(out.c) && y.h == 1 && y.w == out.w &&
         static_cast<std::int64_t>(workers_.cols.front().capacity) >=
             dconv_sink_floats(y.c, static_cast<int>(w.dconv.front().conv1.b.numel()));
}

void HTDemucs::encode(const EncoderW& w, const LevelShape& s, const LevelGeom& g, bool freq,
                      const Act& in, const Act& out) {
  if (freq && freq_rows_supported(w, freq_rows_geom(config_), in, out)) {
    // conv -> GELU -> DConv -> rewrite -> GLU, one frequency row at a time in cache.
    encode_freq_rows(w, freq_rows_geom(config_), in, out, dconv_stats_, workers_);
    tap("+rows", nullptr, 0);
    return;
  }
  Act y{y_, s.enc_out, g.h_out, g.w_out};
  // conv -> [GroupNorm] -> GELU; without the norm the GELU is fused into the conv.
  const bool norm = w.norm1.present();
  conv2d(w.conv.w.data(), w.conv.b.data(), enc_conv_geom(config_, freq), in, y, workers_,
         /*gelu=*/!norm);
  tap("+conv_gelu", nullptr, 0);
  if (norm) {
    group_norm(y, config_.norm_groups, w.norm1.g.data(), w.norm1.b.data(), 1e-5f, false, workers_,
               /*gelu=*/true);
    tap("+norm_gelu", nullptr, 0);
  }
  if (!freq && rewrite_from_dconv_tiles(w, y, out)) {
    // The rewrite + GLU reads each of the last DConv layer's tiles while it is in cache.
    RewriteSink sink(w, out);
    dconv_layers(w.dconv, y, hid_, dconv_stats_, workers_, &sink);
    tap("+dconv_rewrite_glu", nullptr, 0);
    return;
  }
  dconv(w.dconv, y);
  tap("+dconv", nullptr, 0);
  if (!w.norm2.present()) {
    conv2d_glu(w.rewrite.w.data(), w.rewrite.b.data(), rewrite_geom(config_.context_enc, freq), y,
               out, workers_);
    tap("+rewrite_glu", nullptr, 0);
    return;
  }
  Act z{z2_, 2 * s.enc_out, g.h_out, g.w_out};
  conv2d(w.rewrite.w.data(), w.rewrite.b.data(), rewrite_geom(config_.context_enc, freq), y, z,
         workers_);
  group_norm(z, config_.norm_groups, w.norm2.g.data(), w.norm2.b.data(), 1e-5f, false, workers_);
  glu_channels(z, out, workers_);
}

void HTDemucs::decode(const DecoderW& w, const LevelShape& s, const LevelGeom& g, bool freq,
                      const Act& in, const Act& out) {
  // `in` already holds x + skip.
  Act y{y_, s.enc_out, g.h_out, g.w_out};
  if (!w.norm1.present()) {
    conv2d_glu(w.rewrite.w.data(), w.rewrite.b.data(), rewrite_geom(config_.context, freq), in, y,
               workers_);
  } else {
    Act z{z2_, 2 * s.enc_out, g.h_out, g.w_out};
    conv2d(w.rewrite.w.data(), w.rewrite.b.data(), rewrite_geom(config_.context, freq), in, z,
           workers_);
    group_norm(z, config_.norm_groups, w.norm1.g.data(), w.norm1.b.data(), 1e-5f, false, workers_);
    glu_channels(z, y, workers_);
  }
  tap("+rewrite_glu", nullptr, 0);
  dconv(w.dconv, y);
  tap("+dconv", nullptr, 0);
  const int k = config_.kernel_size, st = config_.stride, pad = k / 4;
  if (freq) {
    conv_transpose2d(w.conv_tr.w.data(), w.conv_tr.b.data(), k, 1, st, 1, pad, 0, y, out, workers_);
  } else {
    conv_transpose2d(w.conv_tr.w.data(), w.conv_tr.b.data(), 1, k, 1, st, 0, pad, y, out, workers_);
  }
  tap("+conv_tr", nullptr, 0);
  if (w.norm2.present())
    group_norm(out, config_.norm_groups, w.norm2.g.data(), w.norm2.b.data(), 1e-5f, false, workers_,
               /*gelu=*/!s.last);
  else if (!s.last)
    gelu_inplace(out.data, out.size(), workers_);
}

void HTDemucs::forward(const float* mix, std::int64_t len, float* out) {
  const auto& c = config_;
  const int C = c.audio_channels;
  const int S = c.num_sources();
  const int bins = c.freq_bins();
  if (len <= 0 || len > length_)
    throw std::invalid_argument("HTDemucs::forward: input of " + std::to_string(len) +
                                " samples; expected 1.." + std::to_string(length_));
  GemmWorkspace::Scope gemm_scope(*gemm_.front());
  // Zero-pad to the training length (use_train_segment in eval mode).
  float* x_mix = mix_;
  for (int ch = 0; ch < C; ++ch) {
    std::copy(mix + ch * len, mix + (ch + 1) * len, x_mix + ch * length_);
    std::fill(x_mix + ch * length_ + len, x_mix + (ch + 1) * length_, 0.0f);
  }

  // Frequency-branch input: CaC spectrogram, normalised by its global mean/std.
  float* z = z_;
  const std::int64_t zn = 2LL * C * bins * frames_;
  spec_->forward(x_mix, C, z, workers_);
  tap("z_cac", z, zn);
  double mean = 0, std = 0;
  mean_std(z, zn, partial_, workers_, mean, std);
  normalise(z, zn, mean, std, z, workers_);
  // Time-branch input: the waveform, normalised likewise.
  float* xt = xt_;
  double meant = 0, stdt = 0;
  mean_std(x_mix, C * length_, partial_, workers_, meant, stdt);
  normalise(x_mix, C * length_, meant, stdt, xt, workers_);
  tap("normalise_in", nullptr, 0);

  // Encoders.
  Act fin{z, 2 * C, bins, frames_};
  Act tin{xt, C, 1, length_};
  static constexpr const char* kEnc[] = {"enc0", "enc1", "enc2", "enc3",
                                         "enc4", "enc5", "enc6", "enc7"};
  static constexpr const char* kTEnc[] = {"tenc0", "tenc1", "tenc2", "tenc3",
                                          "tenc4", "tenc5", "tenc6", "tenc7"};
  static constexpr const char* kDec[] = {"dec0", "dec1", "dec2", "dec3",
                                         "dec4", "dec5", "dec6", "dec7"};
  static constexpr const char* kTDec[] = {"tdec0", "tdec1", "tdec2", "tdec3",
                                          "tdec4", "tdec5", "tdec6", "tdec7"};
  for (int i = 0; i < c.depth; ++i) {
    const LevelShape fs = c.freq_level(i), ts = c.time_level(i);
    Act tout{saved_t_[i], ts.enc_out, 1, tgeom_[i].w_out};
    encode(weights_.tencoder[i], ts, tgeom_[i], false, tin, tout);
    tap(kTEnc[i], tout.data, tout.size());
    Act fout{saved_[i], fs.enc_out, fgeom_[i].h_out, frames_};
    encode(weights_.encoder[i], fs, fgeom_[i], true, fin, fout);
    tap(kEnc[i], fout.data, fout.size());
    if (i == 0 && !weights_.freq_emb.empty()) {
      // Frequency embedding: lets the frequency convolutions know where they are.
      const float* emb = weights_.freq_emb.data();
      const auto wemb = static_cast<float>(c.freq_emb);
      workers_.run(fout.c, 1, [&](std::int64_t c0, std::int64_t c1, int) {
        for (std::int64_t ch = c0; ch < c1; ++ch)
          for (int f = 0; f < fout.h; ++f) {
            float* row = fout.data + (ch * fout.h + f) * fout.w;
            const float e = wemb * emb[static_cast<std::int64_t>(f) * fout.c + ch];
            for (std::int64_t t = 0; t < fout.w; ++t) row[t] += e;
          }
      });
    }
    fin = fout;
    tin = tout;
  }

  // Bottom: cross-domain transformer at width bottom_channels.
  Act x{run_a_, fin.c, fin.h, fin.w};
  Act xt_run{trun_a_, tin.c, 1, tin.w};
  if (transformer_) {
    const int D = c.transformer_dim();
    Act b{bottom_, D, fin.h, fin.w};
    Act bt{bottom_t_, D, 1, tin.w};
    if (c.bottom_channels > 0) {
      conv2d(weights_.up.w.data(), weights_.up.b.data(), ConvGeom{}, fin, b, workers_);
      conv2d(weights_.up_t.w.data(), weights_.up_t.b.data(), ConvGeom{}, tin, bt, workers_);
    } else {
      std::copy(fin.data, fin.data + fin.size(), b.data);
      std::copy(tin.data, tin.data + tin.size(), bt.data);
    }
    tap("xformer_in_freq", b.data, b.size());
    tap("xformer_in_time", bt.data, bt.size());
    transformer_->forward(b.data, bt.data, workers_);
    tap("xformer_out_freq", b.data, b.size());
    tap("xformer_out_time", bt.data, bt.size());
    if (c.bottom_channels > 0) {
      conv2d(weights_.down.w.data(), weights_.down.b.data(), ConvGeom{}, b, x, workers_);
      conv2d(weights_.down_t.w.data(), weights_.down_t.b.data(), ConvGeom{}, bt, xt_run, workers_);
    } else {
      std::copy(b.data, b.data + b.size(), x.data);
      std::copy(bt.data, bt.data + bt.size(), xt_run.data);
    }
  } else {
    std::copy(fin.data, fin.data + fin.size(), x.data);
    std::copy(tin.data, tin.data + tin.size(), xt_run.data);
  }

  // Decoders, bottom level first, each adding its encoder's skip.
  float* fbuf[2] = {run_a_, run_b_};
  float* tbuf[2] = {trun_a_, trun_b_};
  int cur = 0;
  for (int i = c.depth - 1; i >= 0; --i) {
    const LevelShape fs = c.freq_level(i), ts = c.time_level(i);
    add_inplace(x.data, saved_[i], x.size(), workers_);
    add_inplace(xt_run.data, saved_t_[i], xt_run.size(), workers_);
    tap("+skip_add", nullptr, 0);
    Act fo{fbuf[1 - cur], fs.dec_out, fgeom_[i].h_in, frames_};
    decode(weights_.decoder[i], fs, fgeom_[i], true, x, fo);
    tap(kDec[c.depth - 1 - i], fo.data, fo.size());
    Act to{tbuf[1 - cur], ts.dec_out, 1, tgeom_[i].w_in};
    decode(weights_.tdecoder[i], ts, tgeom_[i], false, xt_run, to);
    tap(kTDec[c.depth - 1 - i], to.data, to.size());
    cur = 1 - cur;
    x = fo;
    xt_run = to;
  }

  // Un-normalise, back to waveforms, and sum the two branches.
  // In float32, as torch evaluates x * std + mean.
  workers_.run(x.size(), 4096, [&](std::int64_t b, std::int64_t e, int) {
    Eigen::Map<Eigen::ArrayXf> xa(x.data + b, e - b);
    xa = xa * static_cast<float>(std) + static_cast<float>(mean);
  });
  float* fo = freq_out_;
  spec_->inverse(x.data, S * C, fo, workers_);
  workers_.run(static_cast<std::int64_t>(S) * C, 1, [&](std::int64_t r0, std::int64_t r1, int) {
    for (std::int64_t row = r0; row < r1; ++row) {
      const float* tf = fo + row * length_;
      const float* tt = xt_run.data + row * length_;
      float* o = out + row * len;
      Eigen::Map<Eigen::ArrayXf>(o, len) =
          (Eigen::Map<const Eigen::ArrayXf>(tt, len) * static_cast<float>(stdt) +
           static_cast<float>(meant)) +
          Eigen::Map<const Eigen::ArrayXf>(tf, len);
    }
  });
  tap("out", out, static_cast<std::int64_t>(S) * C * len);
}

std::vector<StageCost> HTDemucs::stage_costs() const {
  const auto& c = config_;
  std::vector<StageCost> costs;
  auto dconv_cost = [&](int ch, double plane) {
    const double hidden = c.dconv_hidden(ch);
    return c.dconv_depth * 2.0 * plane * (hidden * ch * 3 + 2.0 * ch * hidden);
  };
  costs.push_back({"z_cac", 0.0});
  costs.push_back({"normalise_in", 0.0});
  for (int i = 0; i < c.depth; ++i) {
    for (int b = 0; b < 2; ++b) {
      const bool freq = b == 1;
      const LevelShape s = freq ? c.freq_level(i) : c.time_level(i);
      const LevelGeom& g = freq ? fgeom_[i] : tgeom_[i];
      const double plane = static_cast<double>(g.h_out) * g.w_out;
      const int kr = 1 + 2 * c.context_enc;
      const double k2 = freq ? kr * kr : kr;
      double f = 2.0 * plane * s.enc_out * s.enc_in * c.kernel_size;
      f += 2.0 * plane * 2 * s.enc_out * s.enc_out * k2;
      if (c.dconv_mode & 1) f += dconv_cost(s.enc_out, plane);
      // conv -> GELU, DConv (GELU on the hidden channels, GLU), rewrite -> GLU.
      const int dl = (c.dconv_mode & 1) ? c.dconv_depth : 0;
      const double gelus = plane * (s.enc_out + dl * c.dconv_hidden(s.enc_out));
      const double sigmoids = plane * s.enc_out * (1 + dl);
      costs.push_back({(freq ? "enc" : "tenc") + std::to_string(i), f, gelus, sigmoids});
    }
  }
  if (transformer_) {
    const double D = c.transformer_dim(), U = c.bottom_unet_channels();
    const double n1 = static_cast<double>(fgeom_.back().h_out) * frames_;
    const double n2 = static_cast<double>(tgeom_.back().w_out);
    // Both up-samplers run before the first of the two taps.
    costs.push_back({"xformer_in_freq", c.bottom_channels ? 2.0 * (n1 + n2) * D * U : 0.0});
    costs.push_back({"xformer_in_time", 0.0});
    costs.push_back({"xformer_out_freq", transformer_->flops()});
    costs.push_back({"xformer_out_time", 0.0});
  }
  for (int i = c.depth - 1; i >= 0; --i) {
    for (int b = 0; b < 2; ++b) {
      const bool freq = b == 0;
      const LevelShape s = freq ? c.freq_level(i) : c.time_level(i);
      const LevelGeom& g = freq ? fgeom_[i] : tgeom_[i];
      const double plane = static_cast<double>(g.h_out) * g.w_out;
      const int kr = 1 + 2 * c.context;
      const double k2 = freq ? kr * kr : kr;
      double f = 2.0 * plane * 2 * s.enc_out * s.enc_out * k2;
      if (c.dconv_mode & 2) f += dconv_cost(s.enc_out, plane);
      f += 2.0 * plane * s.enc_out * s.dec_out * c.kernel_size;
      if (i == c.depth - 1 && transformer_ && c.bottom_channels && freq)
        f += 2.0 * plane * c.transformer_dim() * c.bottom_unet_channels();
      if (i == c.depth - 1 && transformer_ && c.bottom_channels && !freq)
        f += 2.0 * plane * c.transformer_dim() * c.bottom_unet_channels();
      // rewrite -> GLU, DConv, transposed conv -> GELU (not on the last level).
      const int dl = (c.dconv_mode & 2) ? c.dconv_depth : 0;
      const double out_plane = static_cast<double>(g.h_in) * g.w_in;
      const double gelus =
          plane * dl * c.dconv_hidden(s.enc_out) + (s.last ? 0.0 : out_plane * s.dec_out);
      const double sigmoids = plane * s.enc_out * (1 + dl);
      costs.push_back(
          {(freq ? "dec" : "tdec") + std::to_string(c.depth - 1 - i), f, gelus, sigmoids});
    }
  }
  costs.push_back({"out", 0.0});
  return costs;
}

}  // namespace earshot::htdemucs
