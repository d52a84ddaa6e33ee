#include "nodes/codec/codec_player.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace earshot::codec {

namespace {

std::int64_t checked_positive(std::int64_t v, const char* what) {
  if (v < 1) throw std::invalid_argument(std::string("codec player: ") + what + " must be >= 1");
  return v;
}

const CodecPlayerOptions& checked(const CodecPlayerOptions& o) {
  checked_positive(o.frames_per_decode, "frames per decode");
  checked_positive(o.queue_frames, "queue frames");
  checked_positive(o.n_q, "codebooks");
  if (!(o.output_rate >= 1000.0 && o.output_rate <= 768000.0))
    throw std::invalid_argument("codec player: output rate out of range");
  if (o.output_channels < 1 || o.max_period_frames < 1)
    throw std::invalid_argument("codec player: needs at least one channel and one frame");
  if (!(o.buffer_ms >= 0.0 && o.buffer_ms <= 10000.0))
    throw std::invalid_argument("codec player: buffer must be within 0..10000 ms");
  return o;
}

std::unique_ptr<rt::StreamResampler> resampler_for(double model_rate, double output_rate,
                                                   int channels) {
  if (std::abs(output_rate - model_rate) < 1e-6) return nullptr;
  return std::make_unique<rt::StreamResampler>(model_rate, output_rate,
                                               static_cast<unsigned>(channels));
}

}  // namespace

CodecPlayer::CodecPlayer(const encodec::EncodecModel& model, rt::MemoryBudget& budget,
                         CodecPlayerOptions options)
    : options_(checked(options)),
      channels_(model.config().audio_channels),
      codebook_size_(model.config().codebook_size),
      decoder_(model, budget, options.n_q, options.frames_per_decode),
      resampler_(resampler_for(model.config().sampling_rate, options.output_rate, channels_)),
      // The resampler's filter tail (flushed at the end) is a few hundred frames; 8192 is ample.
      max_staged_frames_(resampler_ ? resampler_->max_output_frames(
                                          static_cast<std::size_t>(decoder_.max_output_samples())) +
                                          8192
                                    : static_cast<std::size_t>(decoder_.max_output_samples())),
      threshold_(std::max<std::uint32_t>(
          1, static_cast<std::uint32_t>(
                 std::lround(options.buffer_ms * options.output_rate / 1000.0)))),
      codes_(static_cast<std::size_t>(options.queue_frames * options.n_q)),
      // Room for the jitter buffer, two callbacks and one decoder push: the worker writes a
      // push's audio as soon as it fits, so the ring never holds much more than that.
      audio_((threshold_ + 2 * static_cast<std::size_t>(options.max_period_frames) +
              max_staged_frames_) *
             static_cast<std::size_t>(channels_)) {
  block_.resize(static_cast<std::size_t>(options_.frames_per_decode * options_.n_q));
  decoded_.resize(static_cast<std::size_t>(decoder_.max_output_samples()) *
                  static_cast<std::size_t>(channels_));
  staged_.resize(max_staged_frames_ * static_cast<std::size_t>(channels_));
  worker_ = std::make_unique<rt::WorkerThread>("earshot-codec", [this] { work(); });
}

CodecPlayer::~CodecPlayer() {
  stop();
}

void CodecPlayer::start_reading(int fd, encodec::FrameFraming framing, std::string label) {
  if (reader_.joinable()) throw std::logic_error("codec player: already reading");
  reader_ = std::thread([this, fd, framing, label = std::move(label)]() mutable {
    pthread_setname_np(pthread_self(), "earshot-codes");
    read_loop(fd, framing, std::move(label));
  });
}

void CodecPlayer::stop() {
  stop_.store(true, std::memory_order_release);
  queue_space_.post();
  if (reader_.joinable()) reader_.join();
  if (worker_) worker_->stop();
}

void CodecPlayer::set_error(const std::string& message) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (error_.empty()) error_ = message;
}

bool CodecPlayer::failed() const {
  return reader_failed_.load(std::memory_order_acquire) || (worker_ && worker_->failed());
}

std::string CodecPlayer::error() const {
  if (worker_ && worker_->failed()) {
    try {
      worker_->rethrow_if_failed();
    } catch (const std::exception& e) {
      return std::string("decoder: ") + e.what();
    }
  }
  std::lock_guard<std::mutex> lock(error_mutex_);
  return error_;
}

// Reader thread: blocking reads, one frame at a time, into the bounded queue. When the queue is
// full the reader waits, so a producer running ahead is held back by the pipe.
void CodecPlayer::read_loop(int fd, encodec::FrameFraming framing, std::string label) {
  try {
    encodec::CodeFrameReader reader(fd, framing, options_.n_q, std::move(label), &stop_);
    reader.set_codebook_size(codebook_size_);
    std::vector<std::int32_t> frame;
    frame.reserve(static_cast<std::size_t>(options_.n_q));
    const std::size_t width = static_cast<std::size_t>(options_.n_q);
    for (;;) {
      frame.clear();
      if (reader.read(1, frame) == 0) break;
      std::int64_t expected = -1;
      first_code_at_.compare_exchange_strong(
          expected, static_cast<std::int64_t>(frames_played_.load(std::memory_order_acquire)));
      while (codes_.write_available() < width) {
        if (stop_.load(std::memory_order_acquire)) return;
        queue_space_.wait_for(std::chrono::milliseconds(20));
      }
      codes_.write(std::span<const std::int32_t>(frame.data(), width));
      frames_received_.fetch_add(1, std::memory_order_release);
      worker_->wake();
    }
  } catch (const std::exception& e) {
    set_error(e.what());
    reader_failed_.store(true, std::memory_order_release);
  }
  // Bad input ends the stream where it went bad: what arrived before it still plays.
  input_done_.store(true, std::memory_order_release);
  worker_->wake();
}

// Worker: one run drains what it can and returns; the reader wakes it for new codes, the
// callback every period for new room in the ring.
void CodecPlayer::work() {
  for (;;) {
    if (staged_pos_ < staged_end_) {
      staged_pos_ += audio_.write(
          std::span<const float>(staged_.data() + staged_pos_, staged_end_ - staged_pos_));
      if (staged_pos_ < staged_end_) return;  // the callback wakes us when it made room
      progress_.post();
    }
    // Also when a push gave no audio yet (the decoder's start wait, the resampler's delay).
    frames_delivered_.store(frames_decoded_, std::memory_order_release);
    if (finished_) {
      if (!complete_.load(std::memory_order_relaxed)) {
        complete_.store(true, std::memory_order_release);
        progress_.post();
      }
      return;
    }
    const std::size_t width = static_cast<std::size_t>(options_.n_q);
    const auto available = static_cast<std::int64_t>(codes_.read_available() / width);
    if (available > 0) {
      decode(std::min(available, options_.frames_per_decode));
      continue;
    }
    if (input_done_.load(std::memory_order_acquire)) {
      if (codes_.read_available() >= width) continue;  // frames that came with the end
      stage(decoder_.finish(decoded_.data()), true);
      finished_ = true;
      continue;
    }
    return;
  }
}

void CodecPlayer::decode(std::int64_t frames) {
  const std::size_t n = static_cast<std::size_t>(frames * options_.n_q);
  codes_.read(std::span<std::int32_t>(block_.data(), n));
  queue_space_.post();
  const std::int64_t samples = decoder_.push(block_.data(), frames, decoded_.data());
  frames_decoded_ += frames;
  stage(samples, false);
}

// Converts `samples` decoded frames to the device rate into the staging buffer (the ring takes
// them from there as room appears). `last`: also drain the resampler's filter tail.
void CodecPlayer::stage(std::int64_t samples, bool last) {
  const std::size_t ch = static_cast<std::size_t>(channels_);
  staged_pos_ = 0;
  if (!resampler_) {
    std::copy_n(decoded_.data(), static_cast<std::size_t>(samples) * ch, staged_.data());
    staged_end_ = static_cast<std::size_t>(samples) * ch;
    return;
  }
  const std::size_t capacity = staged_.size() / ch;
  std::size_t produced = 0, offset = 0;
  while (offset < static_cast<std::size_t>(samples) && produced < capacity) {
    std::size_t consumed = 0;
    produced += resampler_->process(decoded_.data() + offset * ch,
                                    static_cast<std::size_t>(samples) - offset, consumed,
                                    staged_.data() + produced * ch, capacity - produced);
    offset += consumed;
    if (consumed == 0) break;
  }
  if (last) {
    while (produced < capacity) {
      const std::size_t got =
          resampler_->flush(staged_.data() + produced * ch, capacity - produced);
      if (got == 0) break;
      produced += got;
    }
  }
  staged_end_ = produced * ch;
}

void CodecPlayer::process(const float* const* /*in*/, float* const* out,
                          std::uint32_t frames) noexcept {
  const std::size_t ch = static_cast<std::size_t>(channels_);
  // Load `complete` first: once it is seen, every sample is in the ring, so `available` is final.
  const bool complete = complete_.load(std::memory_order_acquire);
  const std::size_t available = audio_.read_available() / ch;
  if (buffering_ && (available >= threshold_ || complete)) buffering_ = false;
  const std::size_t take = buffering_ ? 0 : std::min<std::size_t>(available, frames);

  const auto region = audio_.read_regions(take * ch);
  for (std::uint32_t c = 0; c < options_.output_channels; ++c) {
    float* dst = out[c];
    const std::size_t source = c % ch;
    for (std::size_t i = 0; i < take; ++i) dst[i] = region[i * ch + source];
    std::fill(dst + take, dst + frames, 0.0f);
  }
  audio_.commit_read(take * ch);

  if (take > 0 && !started_) {
    started_ = true;
    const std::int64_t first = first_code_at_.load(std::memory_order_acquire);
    start_delay_.store(static_cast<std::int64_t>(played_) - std::max<std::int64_t>(first, 0),
                       std::memory_order_release);
  }
  if (take < frames) {
    if (complete && take == available) {
      if (!done_.load(std::memory_order_relaxed)) {
        end_frame_.store(played_ + take, std::memory_order_release);
        done_.store(true, std::memory_order_release);
      }
    } else if (started_) {
      late_silence_.fetch_add(frames - take, std::memory_order_relaxed);
      if (!buffering_) {
        late_events_.fetch_add(1, std::memory_order_relaxed);
        buffering_ = true;  // gather the jitter buffer again before resuming
      }
    }
  }
  played_ += frames;
  last_period_ = frames;
  audio_played_.fetch_add(take, std::memory_order_relaxed);
  frames_played_.store(played_, std::memory_order_release);
  worker_->wake();
}

void CodecPlayer::wait_until_caught_up() noexcept {
  const std::size_t ch = static_cast<std::size_t>(channels_);
  const std::size_t period = std::max<std::uint32_t>(last_period_, 1);
  for (;;) {
    if (complete_.load(std::memory_order_acquire) || failed() ||
        stop_.load(std::memory_order_acquire))
      return;
    const std::size_t available = audio_.read_available() / ch;
    const std::size_t needed = buffering_ ? std::max<std::size_t>(threshold_, period) : period;
    if (available >= needed || available + 2 * options_.max_period_frames >= audio_.capacity() / ch)
      return;
    progress_.wait_for(std::chrono::milliseconds(10));
  }
}

CodecPlayStats CodecPlayer::stats() const {
  CodecPlayStats s;
  s.frames_received = frames_received_.load(std::memory_order_acquire);
  s.frames_delivered = frames_delivered_.load(std::memory_order_acquire);
  s.frames_played = frames_played_.load(std::memory_order_acquire);
  s.audio_frames_played = audio_played_.load(std::memory_order_relaxed);
  s.late_events = late_events_.load(std::memory_order_relaxed);
  s.late_silence_frames = late_silence_.load(std::memory_order_relaxed);
  s.start_delay_frames = start_delay_.load(std::memory_order_acquire);
  return s;
}

}  // namespace earshot::codec
