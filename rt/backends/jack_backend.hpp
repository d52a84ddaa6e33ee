// The JACK backend: a real JACK client with one port per channel.
//
// - Never starts a server (JackNoStartServer): no server is one clear BackendError.
// - The server owns the clock: sample_rate() and period_frames() are the server's, whatever the
//   config asked for (a period change at run time is followed; the processor sees any size).
// - Latency: our latency callback publishes the processor's latency (set_processing_latency) on
//   our ports with jack_port_set_latency_range, so the capture latency of out_N is the capture
//   latency arriving at our inputs plus ours, and the playback latency of in_N is the playback
//   latency downstream of our outputs plus ours. Clients downstream can compensate exactly.
// - xruns are counted by the xrun callback; a server shutdown (jack_on_info_shutdown) marks the
//   stream finished and failed with the server's reason.
// - Ports are <prefix>_1..N or named one by one (StreamConfig::input_port_names/...).
// - Transport: a processor may read the transport in its callback (query_transport()), and a
//   slow-sync client (set_transport_sync()) holds a transport start or locate until it is
//   ready to play from the new position (the stems deck waits for its mix to be read there).
// - The process callback only fetches port buffers and calls the processor: no allocation, no
//   locks.
#pragma once

#include "rt/backends/audio_backend.hpp"

#include <jack/jack.h>

#include <atomic>
#include <string>
#include <vector>

namespace earshot::rt {

// A slow-sync client's answer to JACK (jack_set_sync_callback).
class JackTransportSync {
 public:
  virtual ~JackTransportSync() = default;
  // JACK's process thread, while the transport is starting or was moved to pos->frame:
  // nonzero once ready to play from there (JACK keeps asking every cycle until then, or until
  // its sync timeout). Real-time rules apply, as in AudioProcessor::process().
  virtual int ready_to_roll(jack_transport_state_t state, jack_position_t* pos) noexcept = 0;
};

class JackBackend final : public AudioBackend {
 public:
  JackBackend() = default;
  ~JackBackend() override;

  std::string name() const override { return "jack"; }
  void open(const StreamConfig& config) override;
  void start(AudioProcessor& processor) override;
  void stop() override;
  // Deactivates and closes the client.
  void close();

  double sample_rate() const override { return sample_rate_; }
  std::uint32_t period_frames() const override {
    return period_frames_.load(std::memory_order_relaxed);
  }
  std::uint32_t input_channels() const override {
    return static_cast<std::uint32_t>(inputs_.size());
  }
  std::uint32_t output_channels() const override {
    return static_cast<std::uint32_t>(outputs_.size());
  }
  // input: the capture latency arriving at our inputs; output: the playback latency after
  // our outputs (both the maximum over ports, in frames).
  BackendLatency latency() const override;
  void set_processing_latency(std::uint32_t frames) override;

  // Our client's name as the server knows it (it may add a suffix to make it unique).
  std::string client_name() const;
  // Full names ("client:port") of our ports.
  std::vector<std::string> input_port_names() const;
  std::vector<std::string> output_port_names() const;
  // Connects our ports to the physical capture/playback ports, in order; call after start().
  void connect_physical_ports();

  // Makes us a slow-sync client: a transport start or locate waits for sync.ready_to_roll().
  // After open(), before start(); `sync` must outlive the stream.
  void set_transport_sync(JackTransportSync& sync);
  // Real-time safe (the process callback may call them): the transport's state and position
  // (jack_transport_query), and the JACK frame time at which the current cycle started.
  jack_transport_state_t query_transport(jack_position_t* pos) const noexcept {
    return jack_transport_query(client_, pos);
  }
  jack_nframes_t cycle_start_frame() const noexcept { return jack_last_frame_time(client_); }

 private:
  static int process_callback(jack_nframes_t frames, void* arg);
  static void latency_callback(jack_latency_callback_mode_t mode, void* arg);
  static int xrun_callback(void* arg);
  static int buffer_size_callback(jack_nframes_t frames, void* arg);
  static void shutdown_callback(jack_status_t code, const char* reason, void* arg);
  static int sync_callback(jack_transport_state_t state, jack_position_t* pos, void* arg);

  jack_client_t* client_ = nullptr;
  std::vector<jack_port_t*> inputs_, outputs_;
  std::vector<const float*> in_buffers_;
  std::vector<float*> out_buffers_;
  AudioProcessor* processor_ = nullptr;
  JackTransportSync* sync_ = nullptr;
  double sample_rate_ = 0;
  std::atomic<std::uint32_t> period_frames_{0};
  bool active_ = false;
};

// Whether a JACK server is reachable (tries a client without starting a server).
bool jack_server_running();

// Every port the server knows, with its direction and type ("client:port  (audio, output)").
// Throws BackendError when no server is running.
std::vector<std::string> list_jack_ports();

}  // namespace earshot::rt
