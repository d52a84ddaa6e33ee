#include "nodes/caption/caption_capture.hpp"

#include "rt/audio_thread_guard.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace earshot::nodes::caption {

CaptionCapture::CaptionCapture(std::uint32_t channels, std::size_t ring_frames,
                               std::uint32_t max_period)
    : channels_(channels),
      chunk_(std::max<std::uint32_t>(64, max_period)),
      ring_(ring_frames),
      mono_(chunk_, 0.0f) {
  if (channels == 0) throw std::invalid_argument("caption capture: no input channels");
}

void CaptionCapture::process(const float* const* in, float* const* out,
                             std::uint32_t frames) noexcept {
  rt::enter_audio_thread();
  callbacks_.fetch_add(1, std::memory_order_relaxed);
  if (out != nullptr) {
    // Captions have no audio output; a duplex backend gets silence.
    for (std::uint32_t i = 0; i < frames; ++i) out[0][i] = 0.0f;
  }
  std::uint32_t done = 0;
  while (done < frames) {
    const std::uint32_t n = std::min(chunk_, frames - done);
    if (in == nullptr) {
      std::fill_n(mono_.data(), n, 0.0f);
    } else {
      const float scale = 1.0f / static_cast<float>(channels_);
      for (std::uint32_t i = 0; i < n; ++i) {
        float sum = 0.0f;
        for (std::uint32_t c = 0; c < channels_; ++c) sum += in[c][done + i];
        mono_[i] = sum * scale;
      }
    }
    const std::size_t written = ring_.write(std::span<const float>(mono_.data(), n));
    if (written < n) dropped_.fetch_add(n - written, std::memory_order_relaxed);
    frames_in_.fetch_add(written, std::memory_order_release);
    done += n;
  }
  if (worker_ != nullptr) worker_->wake();
}

void CaptionCapture::wait_until_caught_up() noexcept {
  const std::uint64_t target = frames_in_.load(std::memory_order_acquire);
  while (consumed_.load(std::memory_order_acquire) < target &&
         !abandoned_.load(std::memory_order_acquire))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

CaptionFeeder::CaptionFeeder(CaptionCapture& capture, CaptionNode& node, double rate,
                             std::size_t block_frames)
    : capture_(capture), node_(node), rate_(rate), in_(block_frames) {
  if (!(rate > 0.0)) throw std::invalid_argument("caption: capture rate must be positive");
  if (std::abs(rate - 16000.0) > 1e-6) {
    resampler_.emplace(rate, 16000.0, 1);
    out_.resize(resampler_->output_capacity(block_frames));
    // libsoxr sizes its FIFOs on the first calls: run a block of silence through now, on this
    // thread, then start clean, so the worker's steady state does not allocate for it.
    resampler_->process(in_, out_);
    resampler_->reset();
  }
}

void CaptionFeeder::feed(std::size_t frames) {
  const std::span<const float> block(in_.data(), frames);
  if (!resampler_) {
    node_.push(block);
    return;
  }
  const std::size_t produced = resampler_->process(block, out_);
  node_.push(std::span<const float>(out_.data(), produced));
}

void CaptionFeeder::run() {
  try {
    for (;;) {
      const std::size_t n = capture_.read(in_);
      if (n == 0) break;
      // Audio still waiting in the ring delays every text this pass commits.
      node_.set_backlog_seconds(static_cast<double>(capture_.available()) / rate_);
      feed(n);
      capture_.mark_consumed(n);
    }
  } catch (...) {
    capture_.abandon();  // an offline clock must not wait for a dead worker
    throw;
  }
}

void CaptionFeeder::finish() {
  run();
  if (resampler_) {
    for (;;) {
      const std::size_t produced = resampler_->flush(out_);
      if (produced == 0) break;
      node_.push(std::span<const float>(out_.data(), produced));
    }
  }
  node_.set_backlog_seconds(0.0);
  node_.finish();
}

}  // namespace earshot::nodes::caption
