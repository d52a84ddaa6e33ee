// Residual vector quantizer: n_q codebooks applied in turn to what the previous ones left.
//
// Encode, per frame: for q = 0..n_q-1, code = argmin_j |r - e_j|^2 evaluated as
// |r|^2 - 2 r.e_j + |e_j|^2 (the reference's formula; the first index wins a tie), then
// r -= e_code. Decode: the sum of the chosen codewords.
#pragma once

#include "models/encodec/weight_loader.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace earshot::encodec {

class ResidualVectorQuantizer {
 public:
  static ResidualVectorQuantizer load(WeightLoader& loader, const EncodecConfig& config);

  int num_quantizers() const { return num_quantizers_; }
  int codebook_size() const { return codebook_size_; }
  int dim() const { return dim_; }
  const float* codeword(int q, int code) const {
    return embed_[q].data() + static_cast<std::int64_t>(code) * dim_;
  }

  // x [frames, dim] -> codes [n_q, frames] (row q holds stage q's codes). With `parallel`, frames
  // are shared out in whole tiles: the same decisions for any number of threads.
  void encode(const float* x, std::int64_t frames, int n_q, std::int32_t* codes,
              rt::Parallel* parallel = nullptr) const;
  // Floats of workspace encode_frame_major needs for up to `frames` frames on one thread.
  std::int64_t encode_workspace_floats(std::int64_t frames) const;
  // Same decisions as `encode`, codes frame-major (codes[f * n_q + q]); allocates nothing.
  void encode_frame_major(const float* x, std::int64_t frames, int n_q, std::int32_t* codes,
                          float* workspace) const;
  // One stage's decision for one residual vector r [dim] (same formula as `encode`).
  int nearest(int q, const float* r) const;
  // codes [n_q, frames] -> out [frames, dim]. Throws std::out_of_range for a code outside the
  // codebook (the message names the stage and frame).
  void decode(const std::int32_t* codes, int n_q, std::int64_t frames, float* out) const;
  // Throws std::invalid_argument unless every code is in [0, codebook_size) and n_q fits.
  void validate(const std::int32_t* codes, int n_q, std::int64_t frames) const;

 private:
  int num_quantizers_ = 0;
  int codebook_size_ = 0;
  int dim_ = 0;
  // Frames [begin, end) of residual [*, dim] (updated in place); the code of frame f, stage q
  // goes to codes[q * q_stride + f * f_stride]. dots: tile x codebook_size floats.
  void encode_range(float* residual, std::int64_t begin, std::int64_t end, int n_q,
                    std::int32_t* codes, std::int64_t q_stride, std::int64_t f_stride,
                    float* dots) const;
  std::int64_t tile_frames() const;

  std::vector<Tensor> embed_;        // per stage [codebook_size, dim]
  std::vector<Tensor> embed_norms_;  // per stage [codebook_size]: |e_j|^2
};

}  // namespace earshot::encodec
