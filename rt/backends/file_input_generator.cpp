#include "rt/backends/file_input_generator.hpp"

#include <algorithm>
#include <chrono>

namespace earshot::rt {

namespace {
constexpr double kRingSeconds = 2.0;
}

FileInputGenerator::FileInputGenerator(const std::string& path, double rate,
                                       std::uint32_t max_period)
    : reader_(path),
      chunk_frames_(std::max<std::uint32_t>(1024, max_period)),
      ring_(static_cast<std::size_t>(kRingSeconds * rate + 4.0 * chunk_frames_) *
            reader_.channels()) {
  reader_.prepare(rate, chunk_frames_);
  read_buffer_.assign(static_cast<std::size_t>(chunk_frames_) * reader_.channels(), 0.0f);
  scratch_.assign(
      static_cast<std::size_t>(std::max<std::uint32_t>(max_period, 64)) * reader_.channels(), 0.0f);
}

FileInputGenerator::~FileInputGenerator() {
  stop();
}

void FileInputGenerator::start() {
  running_.store(true);
  thread_ = std::thread([this] { read_loop(); });
  // A head start of half the ring, so the first callbacks never wait for the decoder.
  const std::size_t head_start = ring_.capacity() / 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!eof_.load() && ring_.read_available() < head_start &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void FileInputGenerator::stop() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
}

void FileInputGenerator::read_loop() {
  const std::size_t ch = reader_.channels();
  try {
    while (running_.load(std::memory_order_relaxed) && !eof_.load()) {
      if (ring_.write_available() < read_buffer_.size()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      const std::size_t got = reader_.read(read_buffer_.data(), chunk_frames_);
      ring_.write(std::span<const float>(read_buffer_.data(), got * ch));
      if (got < chunk_frames_) eof_.store(true, std::memory_order_release);
    }
  } catch (const std::exception& e) {
    error_ = e.what();
    failed_.store(true, std::memory_order_release);
    eof_.store(true, std::memory_order_release);
  }
}

void FileInputGenerator::generate(float* const* out, std::uint32_t channels,
                                  std::uint32_t frames) noexcept {
  const std::uint32_t fch = reader_.channels();
  const std::uint32_t chunk = static_cast<std::uint32_t>(scratch_.size() / fch);
  bool short_read = false;
  for (std::uint32_t offset = 0; offset < frames; offset += chunk) {
    const std::uint32_t want = std::min(chunk, frames - offset);
    const std::size_t available = ring_.read_available() / fch;
    const auto got = static_cast<std::uint32_t>(std::min<std::size_t>(want, available));
    ring_.read(std::span<float>(scratch_.data(), static_cast<std::size_t>(got) * fch));
    for (std::uint32_t c = 0; c < channels; ++c) {
      float* dst = out[c] + offset;
      for (std::uint32_t i = 0; i < got; ++i) dst[i] = scratch_[i * fch + (c % fch)];
      std::fill(dst + got, dst + want, 0.0f);
    }
    if (got < want) short_read = true;
  }
  if (short_read) {
    // Acquire: everything the reader wrote before setting eof_ is visible in the ring.
    if (eof_.load(std::memory_order_acquire) && ring_.read_available() == 0)
      finished_.store(true, std::memory_order_release);
    else
      underruns_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace earshot::rt
