#include "models/encodec/streaming_encoder.hpp"

#include "models/encodec/streaming_stages.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace earshot::encodec {
namespace {

// The shortest stream for which every convolution's input is longer than its padding, so that
// the reference reflects real rows everywhere (shorter: it zero-extends first, see reflect_pad).
std::int64_t streaming_threshold(const SeanetEncoder& enc) {
  auto long_enough = [&](std::int64_t length) {
    auto fits = [&](const Conv1d& conv, std::int64_t n) {
      return n > std::max<std::int64_t>(conv.padding_total(), conv.extra_padding(n));
    };
    if (!fits(enc.first, length)) return false;
    for (const auto& stage : enc.stages) {
      for (const auto& block : stage.blocks) {
        if (!fits(block.conv1, length)) return false;
      }
      if (!fits(stage.down, length)) return false;
      length = stage.down.output_length(length);
    }
    return fits(enc.last, length);
  };
  std::int64_t length = 1;
  while (!long_enough(length)) {
    if (++length > (1 << 24)) throw std::invalid_argument("encoder cannot stream");
  }
  // Every longer stream fits too (lengths only grow).
  return length;
}

}  // namespace

struct StreamingEncoder::Stages {
  StreamingConv first;
  struct Down {
    std::vector<StreamingResidualBlock> blocks;
    StreamingStridedConv down;
  };
  std::vector<Down> downs;
  StreamingLstm lstm;
  StreamingConv last;
  std::int64_t block = 0;       // rows per pipeline call
  std::int64_t max_frames = 0;  // frames out of one push / finish
  models::Tensor prefix;        // [threshold - 1 + max_samples, channels]: audio before the start
  models::Tensor ping, pong;    // activations between stages, sized for the widest
  models::Tensor embeddings;    // [frames of one call, hidden]
  models::Tensor rvq_workspace;
  std::int64_t max_call_frames = 0;
};

StreamingEncoder::StreamingEncoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                                   std::int64_t max_samples_per_push, rt::Parallel* parallel)
    : model_(model),
      parallel_(parallel),
      n_q_(n_q),
      channels_(model.config().audio_channels),
      max_samples_(max_samples_per_push),
      stages_(std::make_unique<Stages>()) {
  const auto& config = model.config();
  if (!config.use_causal_conv || config.normalize || config.chunk_length() > 0) {
    throw std::invalid_argument(config.reference_name() +
                                " is not causal: streaming encode needs a causal model "
                                "(encodec_24khz); encode it chunk by chunk (BlockEncoder)");
  }
  if (n_q < 1 || n_q > model.quantizer().num_quantizers()) {
    throw std::invalid_argument("n_q " + std::to_string(n_q) + " outside 1.." +
                                std::to_string(model.quantizer().num_quantizers()));
  }
  if (max_samples_per_push < 1) throw std::invalid_argument("max_samples_per_push must be >= 1");

  const auto& enc = model.encoder();
  auto& s = *stages_;
  const std::string name = "encodec.stream_encoder";
  threshold_ = streaming_threshold(enc);
  s.block = std::max(max_samples_per_push, threshold_);
  s.prefix = models::Tensor(budget, name, {threshold_ - 1 + max_samples_per_push, channels_});

  std::int64_t widest = 0;
  auto note = [&](std::int64_t rows, std::int64_t cols) { widest = std::max(widest, rows * cols); };
  std::int64_t rows = s.block;
  s.first.prepare(enc.first, budget, name, rows, parallel);
  rows = s.first.max_out();
  note(rows, enc.first.out_channels);
  for (const auto& stage : enc.stages) {
    Stages::Down down;
    down.blocks.resize(stage.blocks.size());
    for (std::size_t b = 0; b < stage.blocks.size(); ++b) {
      down.blocks[b].prepare(stage.blocks[b], budget, name, rows, parallel);
      rows = down.blocks[b].max_out();
      note(rows, stage.down.in_channels);
    }
    down.down.prepare(stage.down, budget, name, rows, parallel);
    rows = down.down.max_out();
    note(rows, stage.down.out_channels);
    s.downs.push_back(std::move(down));
  }
  s.lstm.prepare(enc.lstm, budget, name, rows, parallel);
  note(rows, enc.lstm.size);
  s.last.prepare(enc.last, budget, name, rows, parallel);
  s.max_call_frames = s.last.max_out();
  s.ping = models::Tensor(budget, name, {widest});
  s.pong = models::Tensor(budget, name, {widest});
  s.embeddings = models::Tensor(budget, name, {s.max_call_frames, config.hidden_size});
  s.rvq_workspace =
      models::Tensor(budget, name, {model.quantizer().encode_workspace_floats(s.max_call_frames)});
  // The start releases the prefix (up to threshold - 1 + max_samples samples) in at most two
  // pipeline calls; each call yields at most max_call_frames frames.
  s.max_frames = 2 * s.max_call_frames;
}

StreamingEncoder::~StreamingEncoder() = default;

std::int64_t StreamingEncoder::max_frames_out() const {
  return stages_->max_frames;
}

void StreamingEncoder::reset() {
  auto& s = *stages_;
  s.first.reset();
  for (auto& down : s.downs) {
    for (auto& b : down.blocks) b.reset();
    down.down.reset();
  }
  s.lstm.reset();
  s.last.reset();
  samples_in_ = 0;
  frames_out_ = 0;
  started_ = false;
}

std::int64_t StreamingEncoder::push(const float* audio, std::int64_t samples, std::int32_t* codes) {
  if (samples < 0 || samples > max_samples_) {
    throw std::invalid_argument("push of " + std::to_string(samples) + " samples; at most " +
                                std::to_string(max_samples_) + " per push");
  }
  for (std::int64_t i = 0; i < samples * channels_; ++i) {
    if (!std::isfinite(audio[i])) {
      throw std::invalid_argument("audio sample " + std::to_string(samples_in_ + i / channels_) +
                                  " is not finite (NaN or infinity)");
    }
  }
  if (started_) {
    samples_in_ += samples;
    return feed(audio, samples, false, codes);
  }
  auto& s = *stages_;
  std::memcpy(s.prefix.data() + samples_in_ * channels_, audio,
              sizeof(float) * samples * channels_);
  samples_in_ += samples;
  if (samples_in_ < threshold_) return 0;
  started_ = true;
  return feed(s.prefix.data(), samples_in_, false, codes);
}

std::int64_t StreamingEncoder::finish(std::int32_t* codes) {
  if (started_) return feed(nullptr, 0, true, codes);
  if (samples_in_ == 0) return 0;
  // Too short to stream exactly: the offline encoder (zero-extended reflect padding).
  const auto encoded = model_.encode(stages_->prefix.data(), samples_in_, n_q_, parallel_);
  const auto& chunk = encoded.chunks.at(0);
  for (std::int64_t f = 0; f < chunk.frames; ++f) {
    for (int q = 0; q < n_q_; ++q) codes[f * n_q_ + q] = chunk.codes[q * chunk.frames + f];
  }
  frames_out_ += chunk.frames;
  started_ = true;  // finished: a further finish() has nothing more
  samples_in_ = 0;
  return chunk.frames;
}

// Feeds n rows in pipeline-sized pieces (the last piece carries `final`).
std::int64_t StreamingEncoder::feed(const float* x, std::int64_t n, bool final,
                                    std::int32_t* codes) {
  const std::int64_t block = stages_->block;
  std::int64_t frames = 0;
  std::int64_t done = 0;
  do {
    const std::int64_t take = std::min(block, n - done);
    const bool last_piece = done + take == n;
    // A final call with no rows still needs a valid pointer (memcpy of zero bytes).
    const float* rows = x == nullptr ? stages_->prefix.data() : x + done * channels_;
    frames += run(rows, take, final && last_piece, codes + frames * n_q_);
    done += take;
  } while (done < n);
  frames_out_ += frames;
  return frames;
}

std::int64_t StreamingEncoder::run(const float* x, std::int64_t n, bool final,
                                   std::int32_t* codes) {
  auto& s = *stages_;
  const auto& enc = model_.encoder();
  float* a = s.ping.data();
  float* b = s.pong.data();
  std::int64_t m = s.first.process(x, n, final, a);
  for (std::size_t i = 0; i < s.downs.size(); ++i) {
    for (auto& block : s.downs[i].blocks) {
      m = block.process(a, m, final, b);
      std::swap(a, b);
    }
    elu_inplace(a, m * enc.stages[i].down.in_channels, parallel_);
    m = s.downs[i].down.process(a, m, final, b);
    std::swap(a, b);
  }
  m = s.lstm.process(a, m, b);
  std::swap(a, b);
  elu_inplace(a, m * enc.last.in_channels, parallel_);
  m = s.last.process(a, m, final, s.embeddings.data());
  if (m > s.max_call_frames) throw std::logic_error("streaming encoder: frame buffer overrun");
  model_.quantizer().encode_frame_major(s.embeddings.data(), m, n_q_, codes,
                                        s.rvq_workspace.data());
  return m;
}

}  // namespace earshot::encodec
