#include "models/encodec/rvq.hpp"

#include "models/encodec/gemm.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace earshot::encodec {

ResidualVectorQuantizer ResidualVectorQuantizer::load(WeightLoader& loader,
                                                      const EncodecConfig& config) {
  ResidualVectorQuantizer rvq;
  rvq.num_quantizers_ = config.num_quantizers();
  rvq.codebook_size_ = config.codebook_size;
  rvq.dim_ = config.codebook_dim;
  for (int q = 0; q < rvq.num_quantizers_; ++q) {
    Tensor embed = loader.tensor("quantizer.layers." + std::to_string(q) + ".codebook.embed",
                                 {config.codebook_size, config.codebook_dim});
    Tensor norms = loader.zeros({config.codebook_size});
    for (int j = 0; j < config.codebook_size; ++j) {
      const float* e = embed.data() + static_cast<std::int64_t>(j) * rvq.dim_;
      float s = 0;
      for (int d = 0; d < rvq.dim_; ++d) s += e[d] * e[d];
      norms.data()[j] = s;
    }
    rvq.embed_.push_back(std::move(embed));
    rvq.embed_norms_.push_back(std::move(norms));
  }
  return rvq;
}

std::int64_t ResidualVectorQuantizer::tile_frames() const {
  return std::max<std::int64_t>(1, (1 << 16) / codebook_size_);
}

void ResidualVectorQuantizer::encode_range(float* residual, std::int64_t begin, std::int64_t end,
                                           int n_q, std::int32_t* codes, std::int64_t q_stride,
                                           std::int64_t f_stride, float* dots) const {
  // Stage by stage for a tile of frames at once: one product [frames, dim] x [dim, bins]. Tiles
  // start at multiples of tile_frames() from frame 0 of the call, whichever thread runs them.
  const std::int64_t tile = tile_frames();
  for (std::int64_t f0 = begin; f0 < end; f0 += tile) {
    const std::int64_t nf = std::min(tile, end - f0);
    for (int q = 0; q < n_q; ++q) {
      const float* norms = embed_norms_[q].data();
      gemm(nf, codebook_size_, dim_, residual + f0 * dim_, dim_, embed_[q].data(), dim_, true, dots,
           codebook_size_, false);
      for (std::int64_t f = 0; f < nf; ++f) {
        float* r = residual + (f0 + f) * dim_;
        float r2 = 0;
        for (int d = 0; d < dim_; ++d) r2 += r[d] * r[d];
        const float* dot = dots + f * codebook_size_;
        int best = 0;
        float best_dist = 0;
        for (int j = 0; j < codebook_size_; ++j) {
          const float dist = r2 - 2.0f * dot[j] + norms[j];
          if (j == 0 || dist < best_dist) {
            best = j;
            best_dist = dist;
          }
        }
        codes[q * q_stride + (f0 + f) * f_stride] = best;
        const float* e = codeword(q, best);
        for (int d = 0; d < dim_; ++d) r[d] -= e[d];
      }
    }
  }
}

void ResidualVectorQuantizer::encode(const float* x, std::int64_t frames, int n_q,
                                     std::int32_t* codes, rt::Parallel* parallel) const {
  if (n_q < 0 || n_q > num_quantizers_) {
    throw std::invalid_argument("n_q " + std::to_string(n_q) + " exceeds the model's " +
                                std::to_string(num_quantizers_) + " quantizers");
  }
  std::vector<float> residual(x, x + frames * dim_);
  const std::int64_t tile = tile_frames();
  const int workers = rt::parallel_size(parallel);
  std::vector<float> dots(static_cast<std::size_t>(
      workers * std::min(tile, std::max<std::int64_t>(frames, 1)) * codebook_size_));
  if (workers <= 1 || frames <= tile || frames > INT32_MAX) {
    encode_range(residual.data(), 0, frames, n_q, codes, frames, 1, dots.data());
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(frames), static_cast<int>(tile),
                   [&](int begin, int end, int w) {
                     encode_range(residual.data(), begin, end, n_q, codes, frames, 1,
                                  dots.data() + w * tile * codebook_size_);
                   });
}

std::int64_t ResidualVectorQuantizer::encode_workspace_floats(std::int64_t frames) const {
  return frames * dim_ +
         std::min(tile_frames(), std::max<std::int64_t>(frames, 1)) * codebook_size_;
}

void ResidualVectorQuantizer::encode_frame_major(const float* x, std::int64_t frames, int n_q,
                                                 std::int32_t* codes, float* workspace) const {
  float* residual = workspace;
  std::copy(x, x + frames * dim_, residual);
  encode_range(residual, 0, frames, n_q, codes, 1, n_q, workspace + frames * dim_);
}

int ResidualVectorQuantizer::nearest(int q, const float* r) const {
  const float* norms = embed_norms_[q].data();
  float r2 = 0;
  for (int d = 0; d < dim_; ++d) r2 += r[d] * r[d];
  int best = 0;
  float best_dist = 0;
  for (int j = 0; j < codebook_size_; ++j) {
    const float* e = codeword(q, j);
    float dot = 0;
    for (int d = 0; d < dim_; ++d) dot += r[d] * e[d];
    const float dist = r2 - 2.0f * dot + norms[j];
    if (j == 0 || dist < best_dist) {
      best = j;
      best_dist = dist;
    }
  }
  return best;
}

void ResidualVectorQuantizer::validate(const std::int32_t* codes, int n_q,
                                       std::int64_t frames) const {
  if (n_q < 1 || n_q > num_quantizers_) {
    throw std::invalid_argument(std::to_string(n_q) + " codebooks given; the model has 1.." +
                                std::to_string(num_quantizers_));
  }
  for (int q = 0; q < n_q; ++q) {
    for (std::int64_t f = 0; f < frames; ++f) {
      const std::int32_t code = codes[static_cast<std::int64_t>(q) * frames + f];
      if (code < 0 || code >= codebook_size_) {
        throw std::out_of_range("code " + std::to_string(code) + " at codebook " +
                                std::to_string(q) + ", frame " + std::to_string(f) +
                                " is outside [0, " + std::to_string(codebook_size_) + ")");
      }
    }
  }
}

void ResidualVectorQuantizer::decode(const std::int32_t* codes, int n_q, std::int64_t frames,
                                     float* out) const {
  validate(codes, n_q, frames);
  std::fill(out, out + frames * dim_, 0.0f);
  for (std::int64_t f = 0; f < frames; ++f) {
    float* o = out + f * dim_;
    for (int q = 0; q < n_q; ++q) {
      const float* e = codeword(q, codes[static_cast<std::int64_t>(q) * frames + f]);
      for (int d = 0; d < dim_; ++d) o[d] += e[d];
    }
  }
}

}  // namespace earshot::encodec
