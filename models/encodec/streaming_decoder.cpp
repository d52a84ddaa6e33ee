#include "models/encodec/streaming_decoder.hpp"

#include "models/encodec/streaming_stages.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace earshot::encodec {

struct StreamingDecoder::Stages {
  StreamingConv first;
  StreamingLstm lstm;
  struct Up {
    StreamingConvTranspose up;
    std::vector<StreamingResidualBlock> blocks;
  };
  std::vector<Up> ups;
  StreamingConv last;
  models::Tensor embeddings;  // [max_frames, hidden]
  models::Tensor ping, pong;  // activations between stages, sized for the widest
  std::int64_t max_out_rows = 0;
};

StreamingDecoder::StreamingDecoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                                   std::int64_t max_frames_per_push, rt::Parallel* parallel)
    : model_(model),
      parallel_(parallel),
      n_q_(n_q),
      channels_(model.config().audio_channels),
      max_frames_(max_frames_per_push),
      stages_(std::make_unique<Stages>()) {
  const auto& config = model.config();
  if (!config.use_causal_conv) {
    throw std::invalid_argument(config.reference_name() +
                                " is not causal: streaming decode needs a causal model "
                                "(encodec_24khz); decode it offline");
  }
  if (n_q < 1 || n_q > model.quantizer().num_quantizers()) {
    throw std::invalid_argument("n_q " + std::to_string(n_q) + " outside 1.." +
                                std::to_string(model.quantizer().num_quantizers()));
  }
  if (max_frames_per_push < 1) throw std::invalid_argument("max_frames_per_push must be >= 1");

  const auto& dec = model.decoder();
  auto& s = *stages_;
  const std::string name = "encodec.stream";
  std::int64_t widest = 0;  // largest rows x channels between two stages
  auto note = [&](std::int64_t rows, std::int64_t cols) { widest = std::max(widest, rows * cols); };

  std::int64_t rows = max_frames_per_push;
  s.embeddings = models::Tensor(budget, name, {rows, config.hidden_size});
  s.first.prepare(dec.first, budget, name, rows, parallel);
  rows = s.first.max_out();
  note(rows, dec.first.out_channels);
  s.lstm.prepare(dec.lstm, budget, name, rows, parallel);
  for (const auto& stage : dec.stages) {
    Stages::Up up;
    up.up.prepare(stage.up, budget, name, rows, parallel);
    rows = up.up.max_out();
    note(rows, stage.up.out_channels);
    up.blocks.resize(stage.blocks.size());
    for (std::size_t b = 0; b < stage.blocks.size(); ++b) {
      up.blocks[b].prepare(stage.blocks[b], budget, name, rows, parallel);
      rows = up.blocks[b].max_out();
      note(rows, stage.up.out_channels);
    }
    s.ups.push_back(std::move(up));
  }
  s.last.prepare(dec.last, budget, name, rows, parallel);
  s.max_out_rows = s.last.max_out();
  note(s.max_out_rows, dec.last.out_channels);
  s.ping = models::Tensor(budget, name, {widest});
  s.pong = models::Tensor(budget, name, {widest});
}

StreamingDecoder::~StreamingDecoder() = default;

std::int64_t StreamingDecoder::max_output_samples() const {
  return stages_->max_out_rows;
}

std::int64_t StreamingDecoder::start_delay_frames() const {
  return stages_->first.pad();
}

void StreamingDecoder::reset() {
  auto& s = *stages_;
  s.first.reset();
  s.lstm.reset();
  for (auto& up : s.ups) {
    up.up.reset();
    for (auto& b : up.blocks) b.reset();
  }
  s.last.reset();
  frames_in_ = 0;
  samples_out_ = 0;
}

std::int64_t StreamingDecoder::push(const std::int32_t* codes, std::int64_t frames, float* out) {
  if (frames < 0 || frames > max_frames_) {
    throw std::invalid_argument("push of " + std::to_string(frames) + " frames; at most " +
                                std::to_string(max_frames_) + " per push");
  }
  const auto& rvq = model_.quantizer();
  // Validate everything before touching the state.
  for (std::int64_t i = 0; i < frames * n_q_; ++i) {
    if (codes[i] < 0 || codes[i] >= rvq.codebook_size()) {
      throw std::out_of_range("code " + std::to_string(codes[i]) + " at frame " +
                              std::to_string(frames_in_ + i / n_q_) + ", codebook " +
                              std::to_string(i % n_q_) + " is outside [0, " +
                              std::to_string(rvq.codebook_size()) + ")");
    }
  }
  // RVQ decode: the sum of the chosen codewords, stage 0 first as the reference sums.
  const int dim = rvq.dim();
  float* emb = stages_->embeddings.data();
  for (std::int64_t f = 0; f < frames; ++f) {
    float* e = emb + f * dim;
    std::fill(e, e + dim, 0.0f);
    for (int q = 0; q < n_q_; ++q) {
      const float* word = rvq.codeword(q, codes[f * n_q_ + q]);
      for (int d = 0; d < dim; ++d) e[d] += word[d];
    }
  }
  frames_in_ += frames;
  return run(frames, false, out);
}

std::int64_t StreamingDecoder::finish(float* out) {
  return run(0, true, out);
}

std::int64_t StreamingDecoder::run(std::int64_t frames, bool final, float* out) {
  auto& s = *stages_;
  float* a = s.ping.data();
  float* b = s.pong.data();
  std::int64_t n = s.first.process(s.embeddings.data(), frames, final, a);
  n = s.lstm.process(a, n, b);
  std::swap(a, b);
  const auto& dec = model_.decoder();
  for (std::size_t i = 0; i < s.ups.size(); ++i) {
    elu_inplace(a, n * dec.stages[i].up.in_channels, parallel_, EluMode::kFast);
    n = s.ups[i].up.process(a, n, b);
    std::swap(a, b);
    for (auto& block : s.ups[i].blocks) {
      n = block.process(a, n, final, b);
      std::swap(a, b);
    }
  }
  elu_inplace(a, n * dec.last.in_channels, parallel_, EluMode::kFast);
  n = s.last.process(a, n, final, out);
  samples_out_ += n;
  return n;
}

}  // namespace earshot::encodec
