// Shared pieces of the codec-play tests: the 24 kHz fixture model, its 6 kbps reference codes
// (frame-major), their offline decode, a pipe the test writes code frames into, and a player
// driven by the virtual clock one period at a time.
#pragma once

#include "models/core/safetensors.hpp"
#include "models/encodec/encodec_model.hpp"
#include "nodes/codec/codec_player.hpp"
#include "rt/backends/virtual_clock_backend.hpp"
#include "rt/memory_budget.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace earshot::codec::test {

inline constexpr int kNq = 8;                 // 6 kbps
inline constexpr std::int64_t kFrames = 313;  // frames in the fixture's codes
inline constexpr std::int64_t kHop = 320;     // samples per frame at 24 kHz

inline std::filesystem::path model_dir() {
  return earshot::test::fixture("encodec/24khz-random");
}

// The model, the codes and their offline decode (quantizer sum + SEANet decoder on the whole
// sequence at once): what every streamed output is compared with.
struct Reference {
  rt::MemoryBudget budget{256u << 20};
  encodec::EncodecModel model = encodec::EncodecModel::load(model_dir(), budget);
  std::vector<std::int32_t> codes;  // frame-major [kFrames, kNq]
  std::vector<float> audio;         // [kFrames * kHop]

  Reference() {
    const auto ref = models::SafetensorsFile::open(model_dir() / "ref.safetensors");
    const auto qm = ref.load_i32("codes_6kbps");  // [8, 313]
    codes.resize(static_cast<std::size_t>(kFrames * kNq));
    for (std::int64_t f = 0; f < kFrames; ++f) {
      for (int q = 0; q < kNq; ++q) codes[f * kNq + q] = qm[q * kFrames + f];
    }
    audio = offline(kFrames);
  }
  // Offline decode of the first `frames` frames.
  std::vector<float> offline(std::int64_t frames) const {
    std::vector<std::int32_t> qm(static_cast<std::size_t>(frames * kNq));
    for (std::int64_t f = 0; f < frames; ++f) {
      for (int q = 0; q < kNq; ++q) qm[q * frames + f] = codes[f * kNq + q];
    }
    std::vector<float> emb(static_cast<std::size_t>(frames * model.quantizer().dim()));
    model.quantizer().decode(qm.data(), kNq, frames, emb.data());
    return model.decoder().forward(emb.data(), frames);
  }
  // Frames [begin, end) as i16 little-endian bytes.
  std::string i16_bytes(std::int64_t begin, std::int64_t end) const {
    std::string bytes;
    for (std::int64_t i = begin * kNq; i < end * kNq; ++i) {
      const auto v = static_cast<std::uint16_t>(codes[i]);
      bytes.push_back(static_cast<char>(v & 0xff));
      bytes.push_back(static_cast<char>(v >> 8));
    }
    return bytes;
  }
};

inline Reference& reference() {
  static Reference r;
  return r;
}

template <typename F>
bool wait_until(F condition, double seconds = 30) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// A CodecPlayer reading from a pipe the test writes into, played by a manual virtual clock whose
// output (channel 0) is collected. Deterministic: before each period the test feeds the frames
// "arriving" by then and waits until the worker has delivered their audio to the ring.
class ClockedPlayer {
 public:
  ClockedPlayer(double rate, std::uint32_t period, double buffer_ms = 80)
      : period_(period), backend_(rt::VirtualClockBackend::Clock::Manual) {
    rt::StreamConfig config;
    config.sample_rate = rate;
    config.period_frames = period;
    config.input_channels = 0;
    config.output_channels = 1;
    backend_.open(config);
    output_.reserve(1 << 20);
    backend_.set_output(
        [this](const float* const* out, std::uint32_t, std::uint32_t frames, std::uint64_t) {
          output_.insert(output_.end(), out[0], out[0] + frames);
        });
    CodecPlayerOptions options;
    options.n_q = kNq;
    options.output_rate = rate;
    options.output_channels = 1;
    options.max_period_frames = period;
    options.buffer_ms = buffer_ms;
    player_ = std::make_unique<CodecPlayer>(reference().model, reference().budget, options);
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe failed");
    player_->start_reading(fds_[0], encodec::FrameFraming::kInt16, "test pipe");
    backend_.start(*player_);
  }
  ~ClockedPlayer() {
    close_input();
    backend_.stop();
    player_->stop();
    ::close(fds_[0]);
  }

  // Writes frames [fed, end) and waits until the worker has put their audio into the ring.
  void feed_until(std::int64_t end) {
    if (end <= fed_) return;
    write_bytes(reference().i16_bytes(fed_, end));
    fed_ = end;
    EXPECT_TRUE(wait_until([&] { return player_->stats().frames_delivered >= fed_; }))
        << "worker did not deliver frame " << fed_;
  }
  void write_bytes(const std::string& bytes) {
    ASSERT_EQ(::write(fds_[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // The end of the stream: closes the pipe and waits until all audio is in the ring.
  void close_input() {
    if (fds_[1] < 0) return;
    ::close(fds_[1]);
    fds_[1] = -1;
    EXPECT_TRUE(wait_until([&] { return player_->complete(); })) << "stream never completed";
  }
  void run(std::size_t periods = 1) { backend_.run_periods(periods); }
  // Runs periods until the player has played everything (at most `limit` periods).
  void run_until_done(std::size_t limit = 100000) {
    for (std::size_t i = 0; i < limit && !player_->done(); ++i) run();
    EXPECT_TRUE(player_->done());
  }

  CodecPlayer& player() { return *player_; }
  const std::vector<float>& output() const { return output_; }
  std::int64_t fed() const { return fed_; }
  std::uint32_t period() const { return period_; }
  std::uint64_t periods_run() const { return output_.size() / period_; }

 private:
  std::uint32_t period_;
  rt::VirtualClockBackend backend_;
  std::vector<float> output_;
  std::unique_ptr<CodecPlayer> player_;
  int fds_[2] = {-1, -1};
  std::int64_t fed_ = 0;
};

// Index of the first non-zero sample: where a recording's audio starts.
inline std::size_t first_nonzero(const float* x, std::size_t n) {
  std::size_t i = 0;
  while (i < n && x[i] == 0.0f) ++i;
  return i;
}

inline float max_abs_diff(const float* a, const float* b, std::size_t n) {
  float m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace earshot::codec::test
