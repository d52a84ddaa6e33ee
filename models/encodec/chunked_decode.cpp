#include "models/encodec/chunked_decode.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace earshot::encodec {

void decode_chunks(const EncodecModel& model, const EncodedAudio& encoded,
                   const std::function<void(const float*, std::int64_t)>& sink,
                   rt::Parallel* parallel) {
  const int channels = model.config().audio_channels;
  const std::size_t count = encoded.chunks.size();
  if (count == 0) throw std::invalid_argument("no code chunks to decode");
  // Samples still to hand out (audio_length trims the end; 0 keeps everything).
  std::int64_t budget = encoded.audio_length > 0 ? encoded.audio_length : INT64_MAX;
  auto emit = [&](const float* audio, std::int64_t samples) {
    const std::int64_t n = std::min(samples, budget);
    if (n > 0) sink(audio, n);
    budget -= std::max<std::int64_t>(n, 0);
  };
  if (count == 1) {
    // One chunk: the reference returns it as decoded, without the overlap-add weighting.
    const auto audio = model.decode_chunk(encoded.chunks[0], encoded.n_q, parallel);
    emit(audio.data(), static_cast<std::int64_t>(audio.size()) / channels);
    return;
  }
  const std::int64_t stride = model.config().chunk_stride();
  std::vector<float> weight;      // the triangle, from the first chunk's length
  std::vector<float> sum;         // pending weighted sums from `start`, [len, channels]
  std::vector<float> sum_weight;  // pending summed weights
  std::vector<float> ready;       // final samples of one step
  std::int64_t first_len = 0;
  std::int64_t pending = 0;  // rows of `sum` holding contributions
  for (std::size_t k = 0; k < count; ++k) {
    const auto frame = model.decode_chunk(encoded.chunks[k], encoded.n_q, parallel);
    const std::int64_t len = static_cast<std::int64_t>(frame.size()) / channels;
    if (k == 0) {
      first_len = len;
      weight.resize(static_cast<std::size_t>(first_len));
      const double step = 1.0 / static_cast<double>(first_len + 1);
      for (std::int64_t i = 0; i < first_len; ++i) {
        const double t = static_cast<double>(i + 1) * step;
        weight[i] = static_cast<float>(0.5 - std::abs(t - 0.5));
      }
      sum.assign(static_cast<std::size_t>(first_len * channels), 0.0f);
      sum_weight.assign(static_cast<std::size_t>(first_len), 0.0f);
      ready.resize(static_cast<std::size_t>(first_len * channels));
    }
    if (len > first_len) throw std::invalid_argument("a later chunk is longer than the first");
    // `sum` starts at this chunk's offset: the previous chunk's tail was moved to row 0.
    for (std::int64_t t = 0; t < len; ++t) {
      for (int c = 0; c < channels; ++c)
        sum[t * channels + c] += weight[t] * frame[t * channels + c];
      sum_weight[t] += weight[t];
    }
    pending = std::max(pending, len);
    // Final now: everything before the next chunk's offset; after the last chunk, everything up
    // to its end (the reference's output ends there even if the chunk before reached further).
    const std::int64_t final_rows = k + 1 < count ? std::min(stride, pending) : len;
    for (std::int64_t t = 0; t < final_rows; ++t) {
      for (int c = 0; c < channels; ++c) {
        ready[t * channels + c] = sum[t * channels + c] / sum_weight[t];
      }
    }
    emit(ready.data(), final_rows);
    // Move the tail to the front and clear the rest for the next chunk.
    const std::int64_t tail = pending - final_rows;
    std::copy(sum.begin() + final_rows * channels, sum.begin() + pending * channels, sum.begin());
    std::copy(sum_weight.begin() + final_rows, sum_weight.begin() + pending, sum_weight.begin());
    std::fill(sum.begin() + tail * channels, sum.end(), 0.0f);
    std::fill(sum_weight.begin() + tail, sum_weight.end(), 0.0f);
    pending = tail;
  }
}

}  // namespace earshot::encodec
