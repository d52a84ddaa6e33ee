// Test JACK clients scheduled on JACK's frame clock, so the timing of what is played and what
// is recorded is exact whatever cycle the test thread happens to arm them in:
// - FramePlayer plays planar channels starting at JACK frame `start` (silence elsewhere);
// - FrameRecorder records `frames` frames of each input port starting at JACK frame `start`.
// Every client of a cycle sees the same jack_last_frame_time(), so player, node and recorder
// agree on frame numbers. The private server comes from tests/backends/jack_test_support.hpp.
#pragma once

#include "tests/backends/jack_test_support.hpp"

#include <jack/jack.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace earshot::test {

class FrameClient {
 public:
  FrameClient(const std::string& name, int ports, bool output) : output_(output) {
    jack_status_t status{};
    client_ = jack_client_open(name.c_str(), JackNoStartServer, &status);
    if (client_ == nullptr) return;
    for (int i = 0; i < ports; ++i) {
      const std::string port = (output ? "out_" : "in_") + std::to_string(i);
      ports_.push_back(jack_port_register(client_, port.c_str(), JACK_DEFAULT_AUDIO_TYPE,
                                          output ? JackPortIsOutput : JackPortIsInput, 0));
    }
  }
  virtual ~FrameClient() { close(); }
  void close() {
    if (client_ != nullptr) {
      jack_deactivate(client_);
      jack_client_close(client_);
      client_ = nullptr;
    }
  }
  bool ok() const { return client_ != nullptr; }
  jack_client_t* client() const { return client_; }
  std::string port_name(int i) const { return jack_port_name(ports_[i]); }
  jack_nframes_t now() const { return jack_frame_time(client_); }
  // Connects our port i to `other` (in our direction).
  bool connect(int i, const std::string& other) {
    return output_ ? jack_connect(client_, port_name(i).c_str(), other.c_str()) == 0
                   : jack_connect(client_, other.c_str(), port_name(i).c_str()) == 0;
  }
  void activate() {
    jack_set_process_callback(client_, &on_process, this);
    jack_activate(client_);
  }

 protected:
  virtual void cycle(jack_nframes_t first_frame, jack_nframes_t frames) = 0;
  float* buffer(int i, jack_nframes_t frames) {
    return static_cast<float*>(jack_port_get_buffer(ports_[i], frames));
  }

 private:
  static int on_process(jack_nframes_t frames, void* arg) {
    auto* self = static_cast<FrameClient*>(arg);
    self->cycle(jack_last_frame_time(self->client_), frames);
    return 0;
  }
  bool output_;
  jack_client_t* client_ = nullptr;
  std::vector<jack_port_t*> ports_;
};

// Signed distance a - b on JACK's wrapping 32-bit frame clock.
inline std::int64_t frame_diff(jack_nframes_t a, jack_nframes_t b) {
  return static_cast<std::int32_t>(a - b);
}

class FramePlayer : public FrameClient {
 public:
  // channels: planar signals of equal length.
  FramePlayer(const std::string& name, std::vector<std::vector<float>> channels)
      : FrameClient(name, static_cast<int>(channels.size()), true), signal_(std::move(channels)) {}
  ~FramePlayer() override { close(); }  // no callback into a half-destroyed object
  void play_at(jack_nframes_t start) {
    start_ = start;
    armed_.store(true);
  }
  // True once the whole signal has been played.
  bool done() const { return done_.load(); }

 protected:
  void cycle(jack_nframes_t first, jack_nframes_t frames) override {
    const bool armed = armed_.load();
    const auto length = static_cast<std::int64_t>(signal_[0].size());
    for (std::size_t c = 0; c < signal_.size(); ++c) {
      float* out = buffer(static_cast<int>(c), frames);
      for (jack_nframes_t i = 0; i < frames; ++i) {
        const std::int64_t k = frame_diff(first + i, start_);
        out[i] = armed && k >= 0 && k < length ? signal_[c][k] : 0.0f;
      }
    }
    if (armed && frame_diff(first + frames, start_) >= length) done_.store(true);
  }

 private:
  std::vector<std::vector<float>> signal_;
  std::atomic<bool> armed_{false}, done_{false};
  jack_nframes_t start_ = 0;
};

class FrameRecorder : public FrameClient {
 public:
  FrameRecorder(const std::string& name, int ports, std::size_t frames)
      : FrameClient(name, ports, false),
        recording_(static_cast<std::size_t>(ports), std::vector<float>(frames, 0.0f)) {}
  ~FrameRecorder() override { close(); }
  void record_at(jack_nframes_t start) {
    start_ = start;
    armed_.store(true);
  }
  bool done() const { return done_.load(); }
  // Frames recorded so far (the rest of recording() is still 0).
  std::size_t recorded() const { return recorded_.load(); }
  const std::vector<std::vector<float>>& recording() const { return recording_; }

 protected:
  void cycle(jack_nframes_t first, jack_nframes_t frames) override {
    if (!armed_.load()) return;
    const auto length = static_cast<std::int64_t>(recording_[0].size());
    for (std::size_t c = 0; c < recording_.size(); ++c) {
      const float* in = buffer(static_cast<int>(c), frames);
      for (jack_nframes_t i = 0; i < frames; ++i) {
        const std::int64_t k = frame_diff(first + i, start_);
        if (k >= 0 && k < length) recording_[c][k] = in[i];
      }
    }
    const std::int64_t end = frame_diff(first + frames, start_);
    recorded_.store(static_cast<std::size_t>(std::clamp<std::int64_t>(end, 0, length)));
    if (end >= length) done_.store(true);
  }

 private:
  std::vector<std::vector<float>> recording_;
  std::atomic<bool> armed_{false}, done_{false};
  std::atomic<std::size_t> recorded_{0};
  jack_nframes_t start_ = 0;
};

// Records what arrives in the order it arrives, with the JACK transport frame of every
// sample (-1 while the transport is not rolling), into preallocated storage.
class TransportRecorder : public FrameClient {
 public:
  TransportRecorder(const std::string& name, int ports, std::size_t capacity)
      : FrameClient(name, ports, false),
        recording_(static_cast<std::size_t>(ports), std::vector<float>(capacity, 0.0f)),
        song_frame_(capacity, -2) {}
  ~TransportRecorder() override { close(); }
  void arm() { armed_.store(true); }
  void disarm() { armed_.store(false); }
  std::size_t recorded() const { return count_.load(); }
  bool full() const { return count_.load() == song_frame_.size(); }
  const std::vector<std::vector<float>>& recording() const { return recording_; }
  const std::vector<std::int64_t>& song_frames() const { return song_frame_; }

 protected:
  void cycle(jack_nframes_t, jack_nframes_t frames) override {
    if (!armed_.load()) return;
    jack_position_t pos{};
    const bool rolling = jack_transport_query(client(), &pos) == JackTransportRolling;
    std::size_t k = count_.load();
    for (std::size_t c = 0; c < recording_.size(); ++c) {
      const float* in = buffer(static_cast<int>(c), frames);
      for (jack_nframes_t i = 0; i < frames && k + i < song_frame_.size(); ++i)
        recording_[c][k + i] = in[i];
    }
    for (jack_nframes_t i = 0; i < frames && k < song_frame_.size(); ++i, ++k)
      song_frame_[k] = rolling ? static_cast<std::int64_t>(pos.frame) + i : -1;
    count_.store(k);
  }

 private:
  std::vector<std::vector<float>> recording_;
  std::vector<std::int64_t> song_frame_;
  std::atomic<bool> armed_{false};
  std::atomic<std::size_t> count_{0};
};

}  // namespace earshot::test
