// The cross-domain transformer at the bottom of HTDemucs (demucs' CrossTransformerEncoder).
//
// Two token streams: the spectrogram branch (Fr x T1 positions, token t*Fr + f, with a 2-D
// sinusoidal embedding) and the waveform branch (T2 positions, 1-D sinusoidal embedding).
// Layers alternate: even layers are self-attention within each stream, odd layers are
// cross-attention (spectrogram queries attend to waveform keys and vice versa, both reading the
// other stream as it was before the layer). Every layer is pre-norm, with LayerScale on both
// residual branches and a GroupNorm(1) over the whole stream at its end (t_norm_out).
#pragma once

#include "models/htdemucs/config.hpp"
#include "models/htdemucs/ops.hpp"
#include "models/htdemucs/weights.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <string>

namespace earshot::htdemucs {

class CrossTransformer {
 public:
  // fr x t1: the spectrogram branch's grid; t2: the waveform branch's length; workers: the
  // most workers forward() will be given (each has its own score block).
  CrossTransformer(const HTDemucsConfig& config, const HTDemucsWeights& weights, int fr, int t1,
                   std::int64_t t2, int workers, rt::MemoryBudget& budget, const std::string& tag);

  // x: [D][fr][t1], xt: [D][t2], both transformed in place, split across `workers`.
  // Allocates nothing.
  void forward(float* x, float* xt, Workers& workers);

  // Multiply-adds of one forward (for the benchmark's FLOP count).
  double flops() const;

 private:
  void layer(const XLayerW& w, float* x, std::int64_t n, const float* kv, std::int64_t nk);
  void attention(const AttentionW& w, const float* q_in, std::int64_t nq, const float* kv_in,
                 std::int64_t nk, float* out);

  Workers* workers_ = nullptr;  // during forward()
  const HTDemucsConfig& config_;
  const HTDemucsWeights& weights_;
  int dim_;
  int hidden_;
  int heads_;
  int fr_, t1_;
  std::int64_t n1_, n2_, nmax_;
  rt::Reservation pos2d_, pos1d_;           // [n1][D], [n2][D]
  rt::Reservation x_tok_, xt_tok_, old_x_;  // token-major streams
  rt::Reservation qn_, kvn_;                // normalised inputs
  rt::Reservation q_, k_, v_, ctx_, tmp_;   // attention projections (k_ channel-major) / outputs
#ifndef EARSHOT_HTD_QUERY_BLOCK
#define EARSHOT_HTD_QUERY_BLOCK 128
#endif
  static constexpr std::int64_t kQueryBlock = EARSHOT_HTD_QUERY_BLOCK;  // query rows per block
  rt::Reservation scores_;   // [workers][kQueryBlock][nmax + 1]: one block's scores, one head
  rt::Reservation ff_;       // [nmax][hidden]
  rt::Reservation partial_;  // [nmax] doubles: per-token partial sums of the stream GroupNorm
};

}  // namespace earshot::htdemucs
