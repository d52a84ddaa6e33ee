// A JACK client with freely named audio ports (in_L, vocals_R, ...), for the stems node and the
// deck. rt::JackBackend names its ports <prefix>_1..N, which is not what a DJ patching
// "vocals_L" wants to see, so this is a thin client of its own with the same rules:
// - never starts a server (JackNoStartServer): no server is one clear BackendError;
// - the latency callback publishes a fixed processing latency on our ports
//   (jack_port_set_latency_range), so hosts downstream can compensate;
// - a server shutdown (jack_on_info_shutdown) is recorded with its reason in a fixed buffer
//   (no allocation on JACK's thread); the owner polls server_gone();
// - the process callback fetches the port buffers into preallocated arrays and calls
//   Callback::process(): no allocation, no locks.
#pragma once

#include <jack/jack.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace earshot::stems {

class JackPortClient {
 public:
  class Callback {
   public:
    virtual ~Callback() = default;
    // Audio thread. in[i]/out[i] follow the port order given to the constructor.
    virtual void process(const float* const* in, float* const* out, jack_nframes_t frames,
                         jack_client_t* client) noexcept = 0;
    // Audio thread, for a slow-sync client (activate(callback, true)): the transport is
    // starting or moving to pos->frame; return nonzero once ready to play from there.
    virtual int sync(jack_transport_state_t, jack_position_t*) noexcept { return 1; }
  };

  // Opens the client and registers the ports (not yet active). Throws rt::BackendError.
  JackPortClient(const std::string& client_name, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs);
  ~JackPortClient();
  JackPortClient(const JackPortClient&) = delete;
  JackPortClient& operator=(const JackPortClient&) = delete;

  jack_client_t* handle() const { return client_; }
  std::uint32_t sample_rate() const;
  std::uint32_t period_frames() const;
  std::string client_name() const;
  std::vector<std::string> input_port_names() const;
  std::vector<std::string> output_port_names() const;

  // The delay between our inputs and our outputs, published through the latency API.
  void set_latency(std::uint32_t frames);
  std::uint32_t latency() const { return latency_.load(std::memory_order_relaxed); }

  // slow_sync: register callback.sync() (jack_set_sync_callback), so JACK holds the transport
  // in Starting until it returns ready.
  void activate(Callback& callback, bool slow_sync = false);
  // Deactivates (skipped after a server shutdown: the client is a zombie) and stops callbacks.
  void deactivate();

  bool server_gone() const { return gone_.load(std::memory_order_acquire); }
  // "the JACK server shut down (reason)"; empty while the server is there.
  std::string shutdown_message() const;
  std::uint64_t xruns() const { return xruns_.load(std::memory_order_relaxed); }

 private:
  static int on_process(jack_nframes_t frames, void* arg);
  static void on_latency(jack_latency_callback_mode_t mode, void* arg);
  static void on_shutdown(jack_status_t code, const char* reason, void* arg);
  static int on_xrun(void* arg);
  static int on_sync(jack_transport_state_t state, jack_position_t* pos, void* arg);

  jack_client_t* client_ = nullptr;
  std::vector<jack_port_t*> inputs_, outputs_;
  std::vector<const float*> in_buffers_;
  std::vector<float*> out_buffers_;
  Callback* callback_ = nullptr;
  bool active_ = false;
  std::atomic<std::uint32_t> latency_{0};
  std::atomic<std::uint64_t> xruns_{0};
  std::atomic<bool> gone_{false};
  char reason_[200] = {};
};

}  // namespace earshot::stems
