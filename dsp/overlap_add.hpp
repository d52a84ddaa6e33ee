// Weighted overlap-add, as demucs' apply_model stitches chunk outputs back together.
//
// Each chunk's output is multiplied by a transition weight and summed into the output, the
// weights are summed alongside, and the result is the sum divided by the summed weight. With
// overlapping chunks this crossfades linearly between neighbours; where only one chunk
// covers a sample the weight cancels out exactly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::dsp {

// demucs' transition weight for segment length L (transition_power 1):
// w = cat(arange(1, L//2 + 1), arange(L - L//2, 0, -1)) / max, the division in float32.
// A triangle rising 1..L/2 then falling from its peak L - L/2 down to 1.
inline std::vector<float> demucs_transition_weight(std::size_t length) {
  std::vector<float> w(length);
  const std::size_t rise = length / 2;
  const std::size_t peak = length - rise;
  const auto peak_f = static_cast<float>(peak);
  for (std::size_t i = 0; i < rise; ++i) w[i] = static_cast<float>(i + 1) / peak_f;
  for (std::size_t i = rise; i < length; ++i) w[i] = static_cast<float>(peak - (i - rise)) / peak_f;
  return w;
}

// Accumulates weighted chunks of `rows` parallel signals (e.g. sources x channels) that share
// one weight per sample. Storage is reserved in the constructor; reset(), add() and finish()
// allocate nothing.
class WeightedOverlapAdd {
 public:
  WeightedOverlapAdd(std::size_t rows, std::size_t max_length)
      : rows_(rows), max_length_(max_length), sum_(rows * max_length), weight_(max_length) {}

  std::size_t rows() const { return rows_; }
  std::size_t length() const { return length_; }

  // Starts a new signal of `length` samples per row, all sums zero.
  void reset(std::size_t length) {
    if (length > max_length_)
      throw std::invalid_argument("WeightedOverlapAdd: length " + std::to_string(length) +
                                  " exceeds the reserved " + std::to_string(max_length_));
    length_ = length;
    std::fill_n(sum_.begin(), rows_ * max_length_, 0.0f);
    std::fill_n(weight_.begin(), max_length_, 0.0f);
  }

  // chunk: rows x chunk_len values, row r at chunk[r * chunk_len]; weight: at least chunk_len
  // values (demucs passes w[:len] for a short last chunk). In float32:
  // sum[r][offset + i] += weight[i] * chunk[r][i]; weight_sum[offset + i] += weight[i].
  void add(std::size_t offset, std::size_t chunk_len, std::span<const float> chunk,
           std::span<const float> weight) {
    if (chunk.size() != rows_ * chunk_len || weight.size() < chunk_len ||
        offset + chunk_len > length_)
      throw std::invalid_argument(
          "WeightedOverlapAdd::add: chunk of " + std::to_string(chunk.size()) + " values (" +
          std::to_string(rows_) + " rows x " + std::to_string(chunk_len) + "), " +
          std::to_string(weight.size()) + " weights at offset " + std::to_string(offset) +
          " does not fit a signal of " + std::to_string(length_));
    for (std::size_t r = 0; r < rows_; ++r) {
      float* dst = sum_.data() + r * max_length_ + offset;
      const float* src = chunk.data() + r * chunk_len;
      for (std::size_t i = 0; i < chunk_len; ++i) dst[i] += weight[i] * src[i];
    }
    for (std::size_t i = 0; i < chunk_len; ++i) weight_[offset + i] += weight[i];
  }

  // out: rows x length values, sum / weight_sum. Samples no chunk covered (weight sum 0)
  // are an error rather than NaN.
  void finish(std::span<float> out) const {
    if (out.size() != rows_ * length_)
      throw std::invalid_argument("WeightedOverlapAdd::finish: output holds " +
                                  std::to_string(out.size()) + " values, expected " +
                                  std::to_string(rows_ * length_));
    for (std::size_t i = 0; i < length_; ++i)
      if (!(weight_[i] > 0.0f))
        throw std::invalid_argument("WeightedOverlapAdd::finish: sample " + std::to_string(i) +
                                    " was not covered by any chunk");
    for (std::size_t r = 0; r < rows_; ++r) {
      const float* src = sum_.data() + r * max_length_;
      float* dst = out.data() + r * length_;
      for (std::size_t i = 0; i < length_; ++i) dst[i] = src[i] / weight_[i];
    }
  }

 private:
  std::size_t rows_;
  std::size_t max_length_;
  std::size_t length_ = 0;
  std::vector<float> sum_;     // [rows][max_length]
  std::vector<float> weight_;  // [max_length]
};

}  // namespace earshot::dsp
