#include "models/encodec/block_encoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace earshot::encodec {

BlockEncoder::BlockEncoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                           std::int64_t max_samples_per_push, rt::Parallel* parallel)
    : model_(model),
      parallel_(parallel),
      n_q_(n_q),
      channels_(model.config().audio_channels),
      max_samples_(max_samples_per_push) {
  const auto& config = model.config();
  if (n_q < 1 || n_q > model.quantizer().num_quantizers()) {
    throw std::invalid_argument("n_q " + std::to_string(n_q) + " outside 1.." +
                                std::to_string(model.quantizer().num_quantizers()));
  }
  if (max_samples_per_push < 1) throw std::invalid_argument("max_samples_per_push must be >= 1");
  out_.n_q = n_q;
  if (config.chunk_length() > 0) {
    chunk_ = models::Tensor(budget, "encodec.block_encoder", {config.chunk_length(), channels_});
  } else if (config.use_causal_conv && !config.normalize) {
    stream_ =
        std::make_unique<StreamingEncoder>(model, budget, n_q, max_samples_per_push, parallel);
    push_codes_.resize(static_cast<std::size_t>(stream_->max_frames_out() * n_q));
  } else {
    throw std::invalid_argument(config.reference_name() +
                                ": block encoding needs a causal or a chunked model");
  }
}

BlockEncoder::~BlockEncoder() = default;

std::int64_t BlockEncoder::push(const float* audio, std::int64_t samples) {
  if (samples < 0 || samples > max_samples_) {
    throw std::invalid_argument("push of " + std::to_string(samples) + " samples; at most " +
                                std::to_string(max_samples_) + " per push");
  }
  if (stream_) {
    std::int32_t* codes = push_codes_.data();
    const std::int64_t frames = stream_->push(audio, samples, codes);
    frame_codes_.insert(frame_codes_.end(), codes, codes + frames * n_q_);
    samples_in_ += samples;
    return frames;
  }
  for (std::int64_t i = 0; i < samples * channels_; ++i) {
    if (!std::isfinite(audio[i])) {
      throw std::invalid_argument("audio sample " + std::to_string(samples_in_ + i / channels_) +
                                  " is not finite (NaN or infinity)");
    }
  }
  const std::int64_t chunk = model_.config().chunk_length();
  std::int64_t frames = 0;
  std::int64_t done = 0;
  while (done < samples) {
    const std::int64_t take = std::min(samples - done, chunk - chunk_fill_);
    std::memcpy(chunk_.data() + chunk_fill_ * channels_, audio + done * channels_,
                sizeof(float) * take * channels_);
    chunk_fill_ += take;
    done += take;
    if (chunk_fill_ == chunk) frames += encode_chunk(chunk);
  }
  samples_in_ += samples;
  return frames;
}

// Encodes the first `length` samples of the chunk buffer as the next chunk and keeps its last
// (chunk_length - stride) samples: they begin the next chunk (offsets advance by the stride).
std::int64_t BlockEncoder::encode_chunk(std::int64_t length) {
  CodeChunk chunk;
  const auto embeddings =
      model_.encode_chunk_embeddings(chunk_.data(), length, &chunk.scale, parallel_);
  chunk.frames = static_cast<std::int64_t>(embeddings.size()) / model_.config().hidden_size;
  chunk.codes.resize(static_cast<std::size_t>(n_q_ * chunk.frames));
  model_.quantizer().encode(embeddings.data(), chunk.frames, n_q_, chunk.codes.data(), parallel_);
  const std::int64_t stride = model_.config().chunk_stride();
  const std::int64_t keep = std::max<std::int64_t>(0, length - stride);
  std::memmove(chunk_.data(), chunk_.data() + stride * channels_, sizeof(float) * keep * channels_);
  chunk_fill_ = keep;
  const std::int64_t frames = chunk.frames;
  out_.chunks.push_back(std::move(chunk));
  return frames;
}

EncodedAudio BlockEncoder::finish() {
  if (samples_in_ == 0) throw std::invalid_argument("cannot encode empty audio");
  out_.audio_length = samples_in_;
  if (stream_) {
    std::int32_t* codes = push_codes_.data();
    const std::int64_t frames = stream_->finish(codes);
    frame_codes_.insert(frame_codes_.end(), codes, codes + frames * n_q_);
    const std::int64_t total = static_cast<std::int64_t>(frame_codes_.size()) / n_q_;
    CodeChunk chunk;
    chunk.frames = total;
    chunk.codes.resize(frame_codes_.size());
    for (std::int64_t f = 0; f < total; ++f) {
      for (int q = 0; q < n_q_; ++q) chunk.codes[q * total + f] = frame_codes_[f * n_q_ + q];
    }
    out_.chunks.push_back(std::move(chunk));
  } else if (chunk_fill_ > 0) {
    // range(0, length, stride) includes every offset before the end: the samples held (the
    // overlap of the last full chunk, or a short tail) form the final chunk.
    encode_chunk(chunk_fill_);
  }
  return std::move(out_);
}

}  // namespace earshot::encodec
