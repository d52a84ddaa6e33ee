#include "nodes/stems/live_stems_node.hpp"

#include "rt/interleave.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace earshot::stems {
namespace {

// The most output frames a streaming resampler owes but has not produced yet, over two seconds
// of input fed in `block`-frame blocks (see the header: the counts do not depend on the signal).
std::int64_t held_back(double in_rate, double out_rate, std::size_t channels, std::size_t block) {
  dsp::Resampler r(in_rate, out_rate, channels);
  const std::vector<float> in(block * channels, 0.0f);
  std::vector<float> out(r.output_capacity(block) * channels);
  std::int64_t fed = 0, made = 0, worst = 0;
  const std::int64_t blocks = std::max<std::int64_t>(
      8, static_cast<std::int64_t>(2 * in_rate) / static_cast<std::int64_t>(block));
  for (std::int64_t b = 0; b < blocks; ++b) {
    made += static_cast<std::int64_t>(r.process(in, out));
    fed += static_cast<std::int64_t>(block);
    const auto owed = static_cast<std::int64_t>(std::floor(fed * out_rate / in_rate));
    worst = std::max(worst, owed - made);
  }
  return worst;
}

}  // namespace

LiveStemsNode::LiveStemsNode(htdemucs::ModelBag& bag, const LiveStemsOptions& options,
                             rt::MemoryBudget& budget) {
  if (bag.audio_channels() != 2)
    throw std::invalid_argument("live stems need a stereo model (audio_channels = 2)");
  if (options.overlap < 0.0 || options.overlap >= 1.0)
    throw std::invalid_argument("--overlap must be in [0, 1)");
  sources_ = bag.num_sources();
  out_channels_ = sources_ * 2;
  std::vector<std::string> outputs;
  for (const auto& source : bag.config().sources) {
    outputs.push_back(source + "_L");
    outputs.push_back(source + "_R");
  }
  rt::StreamConfig config;
  config.client_name = options.client_name;
  config.input_channels = 2;
  config.output_channels = static_cast<std::uint32_t>(out_channels_);
  config.input_port_names = {"in_L", "in_R"};
  config.output_port_names = outputs;
  client_ = std::make_unique<rt::JackBackend>();
  client_->open(config);
  const auto rate = static_cast<std::uint32_t>(client_->sample_rate());
  rate_ = static_cast<int>(rate);
  const int model_rate = bag.samplerate();

  htdemucs::SeparatorOptions sep_options;
  sep_options.segment = options.segment;
  sep_options.overlap = options.overlap;
  separator_ = std::make_unique<htdemucs::ChunkedSeparator>(
      bag, htdemucs::ChunkedSeparator::kUnknownLength, sep_options, budget);

  const std::int64_t period = client_->period_frames();
  margin_ = options.margin_seconds >= 0
                ? static_cast<std::int64_t>(options.margin_seconds * rate_)
                : (options.margin >= 0 ? options.margin : 2 * period + rate / 20);
  const std::int64_t L = separator_->segment(), stride = separator_->stride();
  scratch_frames_ = 4096;
  std::int64_t pipeline = L + stride;  // in JACK frames
  if (rate_ != model_rate) {
    down_ = std::make_unique<dsp::Resampler>(rate_, model_rate, 2);
    up_ = std::make_unique<dsp::Resampler>(model_rate, rate_, out_channels_);
    // The worker feeds the down-resampler whatever arrived (a period, up to scratch_frames_)
    // and the up-resampler one chunk's final frames (a stride) at a time.
    const std::int64_t down = std::max(held_back(rate_, model_rate, 2, period),
                                       held_back(rate_, model_rate, 2, scratch_frames_));
    const std::int64_t up = held_back(model_rate, rate_, out_channels_, stride);
    resampler_delay_ = (down * rate_ + model_rate - 1) / model_rate + up;
    pipeline = ((L + stride) * rate_ + model_rate - 1) / model_rate;
    model_in_frames_ = down_->output_capacity(scratch_frames_);
    up_out_frames_ = up_->output_capacity(stride);
    model_in_ = budget.reserve_array<float>("stems-live resampled input", model_in_frames_ * 2);
    up_out_ =
        budget.reserve_array<float>("stems-live resampled stems", up_out_frames_ * out_channels_);
  }
  const std::int64_t latency = pipeline + resampler_delay_ + margin_;
  if (latency > (std::int64_t{1} << 30)) throw std::invalid_argument("latency too large");
  latency_ = static_cast<std::uint32_t>(latency);

  // Input: a chunk's worth plus everything that arrives while the worker is one latency late.
  // Output: the primed latency plus a chunk's final frames, with room for period jitter.
  const std::size_t slack = 8 * static_cast<std::size_t>(std::max<std::int64_t>(period, 1024));
  const std::size_t in_cap = rt::next_power_of_two((L + latency + slack) * 2);
  const std::size_t out_cap = rt::next_power_of_two(
      (latency + 2 * (stride + up_out_frames_) + slack) * static_cast<std::size_t>(out_channels_));
  in_storage_ = budget.reserve_array<float>("stems-live input ring", in_cap);
  out_storage_ = budget.reserve_array<float>("stems-live output ring", out_cap);
  in_ring_ = std::make_unique<rt::SpscRing<float>>(in_storage_.as<float>().data(), in_cap);
  out_ring_ = std::make_unique<rt::SpscRing<float>>(out_storage_.as<float>().data(), out_cap);
  in_scratch_ = budget.reserve_array<float>("stems-live worker input", scratch_frames_ * 2);
  out_scratch_ = budget.reserve_array<float>("stems-live worker output",
                                             static_cast<std::size_t>(stride + L) * out_channels_);
  // Prime the output with D frames of silence (the storage is zeroed): output frame t is stem
  // frame t - D from the first cycle on.
  out_ring_->commit_write(static_cast<std::size_t>(latency_) * out_channels_);
  client_->set_processing_latency(latency_);

  worker_ = std::make_unique<rt::WorkerThread>("earshot-stems", [this] { work(); });
}

LiveStemsNode::~LiveStemsNode() {
  stop();
}

void LiveStemsNode::start() {
  if (active_) return;
  client_->start(*this);
  active_ = true;
}

void LiveStemsNode::stop() {
  if (active_) {
    client_->stop();
    active_ = false;
  }
  stopping_.store(true, std::memory_order_release);
  if (worker_) worker_->stop();
}

void LiveStemsNode::process(const float* const* in, float* const* out,
                            std::uint32_t frames) noexcept {
  if (!started_.load(std::memory_order_relaxed)) {
    origin_ = client_->cycle_start_frame();
    started_.store(true, std::memory_order_release);
  }
  // Input. Frames that did not fit earlier are replaced by zeros first, keeping the timing.
  if (zero_debt_ > 0) {
    const std::size_t n = std::min<std::size_t>(zero_debt_, rt::frames_writable(*in_ring_, 2));
    const rt::RingRegions<float> space = in_ring_->write_regions(n * 2);
    std::fill(space.first.begin(), space.first.end(), 0.0f);
    std::fill(space.second.begin(), space.second.end(), 0.0f);
    in_ring_->commit_write(n * 2);
    zero_debt_ -= n;
  }
  std::size_t wrote = 0;
  if (zero_debt_ == 0) {
    const float* channels[2] = {in[0], in[1]};
    wrote = rt::write_planar(*in_ring_, std::span<const float* const>(channels, 2), frames);
  }
  if (wrote < frames) {
    zero_debt_ += frames - wrote;
    dropped_.fetch_add(frames - wrote, std::memory_order_relaxed);
  }
  worker_->wake();

  // Output. Frames that went out as silence earlier are dropped when they finally arrive.
  const auto ch = static_cast<std::size_t>(out_channels_);
  if (late_debt_ > 0) {
    const std::size_t n = std::min<std::size_t>(late_debt_, rt::frames_readable(*out_ring_, ch));
    out_ring_->skip(n * ch);
    late_debt_ -= n;
  }
  std::size_t got = 0;
  if (late_debt_ == 0) got = rt::read_planar(*out_ring_, std::span<float* const>(out, ch), frames);
  if (got < frames) {
    for (std::size_t c = 0; c < ch; ++c)
      std::memset(out[c] + got, 0, (frames - got) * sizeof(float));
    late_debt_ += frames - got;
    late_.fetch_add(frames - got, std::memory_order_relaxed);
  }
}

void LiveStemsNode::work() {
  htdemucs::ChunkedSeparator& sep = *separator_;
  float* scratch = in_scratch_.as<float>().data();
  float* stems = out_scratch_.as<float>().data();
  // Model-rate input waiting to be pushed: the scratch itself, or the down-resampler's output.
  float* fifo = down_ ? model_in_.as<float>().data() : scratch;
  const auto ch = static_cast<std::size_t>(out_channels_);
  while (!stopping_.load(std::memory_order_acquire)) {
    if (sep.ready()) {
      const std::int64_t n = sep.process();
      for (std::int64_t t = 0; t < n; ++t)
        for (int s = 0; s < sources_; ++s)
          for (int c = 0; c < 2; ++c) stems[t * ch + s * 2 + c] = sep.output(s, c)[t];
      const float* out = stems;
      std::size_t frames = static_cast<std::size_t>(n);
      if (up_) {
        float* resampled = up_out_.as<float>().data();
        frames = up_->process(std::span<const float>(stems, frames * ch),
                              std::span<float>(resampled, up_out_frames_ * ch));
        out = resampled;
      }
      // The ring is sized so this never waits in practice; if it ever does, only this worker
      // waits, never the audio thread.
      std::size_t written = 0;
      const std::size_t total = frames * ch;
      while (written < total && !stopping_.load(std::memory_order_acquire)) {
        const std::size_t w =
            out_ring_->write(std::span<const float>(out + written, total - written));
        written += w;
        if (w == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      chunks_.fetch_add(1, std::memory_order_release);
      separated_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_release);
      continue;
    }
    if (fifo_pos_ < fifo_count_) {
      const std::size_t n =
          std::min(fifo_count_ - fifo_pos_, static_cast<std::size_t>(sep.frames_wanted()));
      sep.push(fifo + fifo_pos_ * 2, static_cast<std::int64_t>(n));
      fifo_pos_ += n;
      continue;
    }
    const std::size_t available = rt::frames_readable(*in_ring_, 2);
    if (available == 0) return;
    const std::size_t n = std::min(available, scratch_frames_);
    in_ring_->read(std::span<float>(scratch, n * 2));
    fifo_pos_ = 0;
    fifo_count_ = down_ ? down_->process(std::span<const float>(scratch, n * 2),
                                         std::span<float>(fifo, model_in_frames_ * 2))
                        : n;
  }
}
}  // namespace earshot::stems
