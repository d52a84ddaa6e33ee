// HTDemucs (Demucs v4): one forward pass over one training-length segment.
//
//   mix ──STFT──► CaC spectrogram ──normalise──► encoder[0..depth) ─┐        ┌─► decoder ─► iSTFT
//   ─┐
//    │                                (freq-embedding after [0])    ├► cross ┤ (+)─► stems
//    └──────────────normalise──────► tencoder[0..depth) ────────────┘ transf.└─► tdecoder ────────┘
//
// Each encoder level: strided conv, GELU, DConv residual branch, 1x1 "rewrite" conv, GLU.
// Each decoder level: + skip, rewrite conv, GLU, DConv, transposed conv, GELU (not the last).
// Both U-Nets share the level structure; the frequency branch convolves along frequency rows
// (kernel [k, 1]) and the time branch along samples.
//
// Everything (weights and every activation workspace) is reserved from the memory budget in
// the constructor, so forward() allocates nothing and can run on a worker thread. One object
// serves one thread at a time. Given an rt::Parallel (a ThreadTeam made once by the
// application), forward() splits every convolution, GEMM, attention and elementwise pass across
// its workers; each worker's im2col and GEMM packing scratch is reserved here too. The team must
// outlive the model and must not be running anything else during forward().
#pragma once

#include "models/core/safetensors.hpp"
#include "models/htdemucs/config.hpp"
#include "models/htdemucs/ops.hpp"
#include "models/htdemucs/spectrogram.hpp"
#include "models/htdemucs/transformer.hpp"
#include "models/htdemucs/weights.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace earshot::htdemucs {

// Observes intermediate tensors (tests compare them with the reference; the benchmark times
// the stages). Called on the forward()'s thread; the span is only valid during the call.
// Names starting with '+' (data empty) mark the end of a step inside the next named stage
// ("+conv_gelu", "+dconv", "+rewrite_glu", "+conv_tr", "+skip_add", ...), for profiling.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual void tap(std::string_view stage, std::span<const float> data) = 0;
};

// A named stage of the forward pass with its multiply-add count x 2 (for the benchmark).
// Also the elementwise transcendental work the FLOP count leaves out: exact GELUs (erf) and
// GLU sigmoids (exp and a division) it evaluates, one per element.
struct StageCost {
  std::string name;
  double flops = 0.0;
  double gelus = 0.0;
  double sigmoids = 0.0;
};

// The activation workspaces of a forward pass. Models of one geometry (the members of a bag)
// can share one, since they run one after the other: pass the first model's workspace() to
// the next constructor. A workspace of another geometry is not reused.
struct HTDemucsWorkspace {
  std::string geometry;  // the config values the buffer sizes depend on
  std::vector<rt::Reservation> blocks;
  std::size_t cursor = 0;
  bool building = true;
  float* take(rt::MemoryBudget& budget, const std::string& name, std::int64_t floats);
};

class HTDemucs {
 public:
  HTDemucs(HTDemucsConfig config, const models::SafetensorsFile& weights, rt::MemoryBudget& budget,
           const std::string& tag = "htdemucs",
           std::shared_ptr<HTDemucsWorkspace> shared_workspace = nullptr,
           rt::Parallel* parallel = nullptr);
  // Loads DIR/config.json and DIR/model.safetensors.
  static std::unique_ptr<HTDemucs> load(
      const std::string& dir, rt::MemoryBudget& budget, const std::string& tag = "htdemucs",
      std::shared_ptr<HTDemucsWorkspace> shared_workspace = nullptr,
      rt::Parallel* parallel = nullptr);
  // The team forward() runs on (nullptr: the calling thread) and its worker count.
  rt::Parallel* parallel() const { return workers_.parallel; }
  int threads() const { return workers_.size(); }
  const std::shared_ptr<HTDemucsWorkspace>& workspace() const { return ws_; }

  const HTDemucsConfig& config() const { return config_; }
  std::int64_t segment_length() const { return length_; }
  int num_sources() const { return config_.num_sources(); }
  int audio_channels() const { return config_.audio_channels; }

  // mix: [audio_channels][len] (planar), len <= segment_length(); a shorter input is
  // zero-padded on the right to the training length, as demucs does. out: [sources][audio
  // channels][len]. Allocates nothing.
  void forward(const float* mix, std::int64_t len, float* out);

  void set_probe(Probe* probe) { probe_ = probe; }
  // FLOPs per stage of one forward (stages in execution order), and their sum.
  std::vector<StageCost> stage_costs() const;

 private:
  struct LevelGeom {
    int h_in, h_out;           // frequency rows (1 for the time branch)
    std::int64_t w_in, w_out;  // frames or samples
  };
  // Whether a time-branch encoder's rewrite + GLU can consume the last DConv layer's tiles.
  bool rewrite_from_dconv_tiles(const EncoderW& w, const Act& y, const Act& out) const;
  void encode(const EncoderW& w, const LevelShape& s, const LevelGeom& g, bool freq, const Act& in,
              const Act& out);
  void decode(const DecoderW& w, const LevelShape& s, const LevelGeom& g, bool freq, const Act& in,
              const Act& out);
  void dconv(const std::vector<DConvLayerW>& layers, const Act& y);
  void tap(std::string_view stage, const float* data, std::int64_t n);

  HTDemucsConfig config_;
  HTDemucsWeights weights_;
  std::int64_t length_;
  int frames_;
  std::vector<LevelGeom> fgeom_, tgeom_;
  std::unique_ptr<DemucsSpectrogram> spec_;
  std::unique_ptr<CrossTransformer> transformer_;
  Probe* probe_ = nullptr;

  std::shared_ptr<HTDemucsWorkspace> ws_;  // owns the activation blocks below
  float *mix_, *z_, *xt_;                  // padded input, CaC spectrogram, normalised waveform
  std::vector<float*> saved_, saved_t_;    // encoder outputs (skips)
  float *y_, *z2_, *hid_;                  // level scratch: post-conv, 2C pre-GLU, DConv hidden
  double* dconv_stats_ = nullptr;          // DConv per-tile and per-row statistics
  double* partial_ = nullptr;              // per-block sums of the input statistics
  float *run_a_, *run_b_;                  // decoder ping-pong, frequency branch
  float *trun_a_, *trun_b_;                // decoder ping-pong, time branch
  float *bottom_ = nullptr, *bottom_t_ = nullptr;     // transformer-width streams
  float* freq_out_;                                   // [S*C][length]: iSTFT output
  std::vector<std::unique_ptr<GemmWorkspace>> gemm_;  // one per worker
  Workers workers_;                                   // the team and per-worker scratch
};

}  // namespace earshot::htdemucs
