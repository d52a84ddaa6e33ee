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

void ResidualVectorQuantizer::encode(const float* x, std::int64_t frames, int n_q,
                                     std::int32_t* codes) const {
  if (n_q < 0 || n_q > num_quantizers_) {
    throw std::invalid_argument("n_q " + std::to_string(n_q) + " exceeds the model's " +
                                std::to_string(num_quantizers_) + " quantizers");
  }
  std::vector<float> residual(x, x + frames * dim_);
  // Stage by stage for all frames at once: one product [frames, dim] x [dim, bins].
  const std::int64_t tile = std::max<std::int64_t>(1, (1 << 16) / codebook_size_);
  std::vector<float> dots(
      static_cast<std::size_t>(std::min(tile, std::max<std::int64_t>(frames, 1)) * codebook_size_));
  for (int q = 0; q < n_q; ++q) {
    const float* norms = embed_norms_[q].data();
    for (std::int64_t f0 = 0; f0 < frames; f0 += tile) {
      const std::int64_t nf = std::min(tile, frames - f0);
      gemm(nf, codebook_size_, dim_, residual.data() + f0 * dim_, dim_, embed_[q].data(), dim_,
           true, dots.data(), codebook_size_, false);
      for (std::int64_t f = 0; f < nf; ++f) {
        float* r = residual.data() + (f0 + f) * dim_;
        float r2 = 0;
        for (int d = 0; d < dim_; ++d) r2 += r[d] * r[d];
        const float* dot = dots.data() + f * codebook_size_;
        int best = 0;
        float best_dist = 0;
        for (int j = 0; j < codebook_size_; ++j) {
          const float dist = r2 - 2.0f * dot[j] + norms[j];
          if (j == 0 || dist < best_dist) {
            best = j;
            best_dist = dist;
          }
        }
        codes[static_cast<std::int64_t>(q) * frames + f0 + f] = best;
        const float* e = codeword(q, best);
        for (int d = 0; d < dim_; ++d) r[d] -= e[d];
      }
    }
  }
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
