#include "models/encodec/streaming_decoder.hpp"

#include "models/encodec/streaming_stages.hpp"

#include <time.h>

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

namespace {
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
std::int64_t weight_bytes(const Tensor& weight, const HalfWeights& half) {
  return half.empty() ? weight.numel() * 4 : half.rows * half.cols * 2;
}
std::int64_t bytes_of(const Conv1d& conv) {
  return weight_bytes(conv.weight, conv.weight_f16) + conv.bias.numel() * 4;
}
}  // namespace

void StreamingProfile::clear() {
  for (auto& s : stages) s.cpu_s = 0;
  pushes = 0;
  frames = 0;
}

void StreamingDecoder::enable_profile(StreamingProfile* profile) {
  profile_ = profile;
  if (profile == nullptr) return;
  const auto& dec = model_.decoder();
  auto& st = profile->stages;
  st.clear();
  st.push_back({"rvq decode (codebook rows)", 0,
                static_cast<std::int64_t>(n_q_) * model_.quantizer().dim() * 4, 0});
  st.push_back({"conv k7 " + std::to_string(dec.first.in_channels) + "->" +
                    std::to_string(dec.first.out_channels),
                bytes_of(dec.first), 0, 0});
  // The input projections read W_ih once per push; the recurrence reads W_hh once per frame.
  std::int64_t ih_bytes = 0;
  std::int64_t hh_bytes = 0;
  for (int l = 0; l < dec.lstm.layers; ++l) {
    const std::int64_t matrix = 4 * static_cast<std::int64_t>(dec.lstm.size) * dec.lstm.size *
                                (dec.streamed_weights_f16() ? 2 : 4);
    ih_bytes += matrix + dec.lstm.bias[l].numel() * 4;
    hh_bytes += matrix;
  }
  st.push_back({"lstm " + std::to_string(dec.lstm.layers) + " x " + std::to_string(dec.lstm.size),
                ih_bytes, hh_bytes, 0});
  for (const auto& stage : dec.stages) {
    const auto& up = stage.up;
    st.push_back({"elu+tconv k" + std::to_string(up.kernel) + " " + std::to_string(up.in_channels) +
                      "->" + std::to_string(up.out_channels),
                  weight_bytes(up.weight, up.weight_f16) + up.bias.numel() * 4, 0, 0});
    std::int64_t block_bytes = 0;
    for (const auto& b : stage.blocks) {
      block_bytes +=
          bytes_of(b.conv1) + bytes_of(b.conv2) + (b.has_shortcut ? bytes_of(b.shortcut) : 0);
    }
    st.push_back({"resblock " + std::to_string(up.out_channels), block_bytes, 0, 0});
  }
  st.push_back({"elu+conv last", bytes_of(dec.last), 0, 0});
  profile->clear();
}

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
  const double t0 = profile_ != nullptr ? thread_cpu_s() : 0;
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
  if (profile_ != nullptr) {
    profile_->stages[0].cpu_s += thread_cpu_s() - t0;
    ++profile_->pushes;
    profile_->frames += frames;
  }
  return run(frames, false, out);
}

std::int64_t StreamingDecoder::finish(float* out) {
  return run(0, true, out);
}

std::int64_t StreamingDecoder::run(std::int64_t frames, bool final, float* out) {
  auto& s = *stages_;
  float* a = s.ping.data();
  float* b = s.pong.data();
  // Profiling: charge the time since the last mark to stage `stage` (0 is the RVQ, in push).
  int stage = 1;
  double mark = profile_ != nullptr ? thread_cpu_s() : 0;
  auto charge = [&] {
    if (profile_ == nullptr) return;
    const double t = thread_cpu_s();
    profile_->stages[stage++].cpu_s += t - mark;
    mark = t;
  };
  std::int64_t n = s.first.process(s.embeddings.data(), frames, final, a);
  charge();
  n = s.lstm.process(a, n, b);
  std::swap(a, b);
  charge();
  for (std::size_t i = 0; i < s.ups.size(); ++i) {
    n = s.ups[i].up.process(a, n, b);  // ELU first
    std::swap(a, b);
    charge();
    for (auto& block : s.ups[i].blocks) {
      n = block.process(a, n, final, b);
      std::swap(a, b);
    }
    charge();
  }
  n = s.last.process(a, n, final, out, EluMode::kFast);
  charge();
  samples_out_ += n;
  return n;
}

}  // namespace earshot::encodec
