// One interface for every audio backend: JACK, PortAudio, file (libsndfile) and the virtual clock.
//
// Life cycle (all on a control thread, never on the audio thread):
//   open(config)  -> the stream exists; sample_rate(), period_frames(), channel counts and
//                    latency() are now the stream's real values (JACK dictates rate and period).
//   start(proc)   -> the backend calls proc.process(...) once per period on its audio thread.
//   stop()        -> returns once the last callback has finished; start() may be called again.
// The destructor stops and closes.
//
// The process callback is planar: in[c][i] is sample i of input channel c, out[c][i] likewise.
// A backend with no input (or no output) channels passes in == nullptr (out == nullptr).
// It runs on the audio thread, so it must not allocate, free, lock, do I/O, log or wait. The
// backends themselves obey the same rule inside their callbacks: every buffer is allocated in
// open()/start(). Output buffers arrive zeroed only where a backend says so; a processor must
// write every output sample.
//
// Errors (no server, no device, unreadable file, unsupported rate...) are BackendError
// exceptions whose what() is one line that says what failed and what to do.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::rt {

class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StreamConfig {
  // Requested rate; backends that do not own the clock (JACK) report their own rate instead.
  double sample_rate = 48000.0;
  // Requested frames per callback; JACK uses the server's period.
  std::uint32_t period_frames = 256;
  std::uint32_t input_channels = 1;
  std::uint32_t output_channels = 1;
  // JACK client name / PortAudio stream label.
  std::string client_name = "earshot";
  // Ports are named <input_port_prefix>_1..N and <output_port_prefix>_1..N...
  std::string input_port_prefix = "in";
  std::string output_port_prefix = "out";
  // ...unless named here one by one (in_L, vocals_R: what a user patching a JACK graph wants to
  // see). A list that is given must have one name per channel. JACK only.
  std::vector<std::string> input_port_names;
  std::vector<std::string> output_port_names;
};

// Latency, in frames, that the backend itself adds on each side (device/server buffering).
struct BackendLatency {
  std::uint32_t input_frames = 0;
  std::uint32_t output_frames = 0;
};

// What the audio thread calls once per period. Implementations must be real-time safe.
class AudioProcessor {
 public:
  virtual ~AudioProcessor() = default;
  virtual void process(const float* const* in, float* const* out,
                       std::uint32_t frames) noexcept = 0;
  // Called between periods only by clocks that are not real time (the file backend running as
  // fast as possible): returns once the processor has dealt with everything it was given, so
  // an offline run is exact instead of racing the processor's worker threads.
  virtual void wait_until_caught_up() noexcept {}
};

class AudioBackend {
 public:
  virtual ~AudioBackend() = default;
  AudioBackend() = default;
  AudioBackend(const AudioBackend&) = delete;
  AudioBackend& operator=(const AudioBackend&) = delete;

  // Short name for messages: "null", "file", "jack", "portaudio".
  virtual std::string name() const = 0;

  virtual void open(const StreamConfig& config) = 0;
  virtual void start(AudioProcessor& processor) = 0;
  virtual void stop() = 0;

  // Valid after open().
  virtual double sample_rate() const = 0;
  virtual std::uint32_t period_frames() const = 0;
  virtual std::uint32_t input_channels() const = 0;
  virtual std::uint32_t output_channels() const = 0;
  virtual BackendLatency latency() const = 0;

  // The latency the processor adds between its input and output (frames). Backends that can
  // publish it (JACK: jack_port_set_latency_range on our ports) do, so downstream clients
  // compensate for it. Call before or after start().
  virtual void set_processing_latency(std::uint32_t frames) {
    processing_latency_.store(frames, std::memory_order_relaxed);
  }
  std::uint32_t processing_latency() const {
    return processing_latency_.load(std::memory_order_relaxed);
  }

  // Overruns/underruns the backend saw (JACK xrun callback, PortAudio status flags, a paced
  // clock that missed its deadline).
  std::uint64_t xruns() const { return xruns_.load(std::memory_order_relaxed); }

  // True once the stream cannot continue: the server went away, the device vanished, or a
  // finite source (an input file, a virtual clock with a frame limit) reached its end.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // True when finished() because of a failure (server shutdown, device error), not an end.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // One line saying why the stream finished; empty while running. Read after finished().
  std::string finish_message() const {
    if (!finished()) return {};
    return std::string(finish_message_);
  }

 protected:
  void count_xrun() noexcept { xruns_.fetch_add(1, std::memory_order_relaxed); }
  void reset_status() noexcept {
    finished_.store(false, std::memory_order_release);
    failed_.store(false, std::memory_order_release);
    finishing_.store(false, std::memory_order_release);
    finish_message_[0] = '\0';
  }
  // Real-time safe (copies into a fixed buffer); may be called from any thread, first call wins.
  void mark_finished(const char* message, bool failure) noexcept;

 private:
  std::atomic<std::uint64_t> xruns_{0};
  std::atomic<std::uint32_t> processing_latency_{0};
  std::atomic<bool> finished_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> finishing_{false};
  char finish_message_[256] = {};
};

}  // namespace earshot::rt
