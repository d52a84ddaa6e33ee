#include "nodes/stems/jack_port_client.hpp"

#include "rt/audio_thread_guard.hpp"
#include "rt/backends/audio_backend.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace earshot::stems {
namespace {

jack_latency_range_t max_range(const std::vector<jack_port_t*>& ports,
                               jack_latency_callback_mode_t mode) {
  jack_latency_range_t result{0, 0};
  for (jack_port_t* port : ports) {
    jack_latency_range_t r{};
    jack_port_get_latency_range(port, mode, &r);
    result.min = std::max(result.min, r.min);
    result.max = std::max(result.max, r.max);
  }
  return result;
}

}  // namespace

JackPortClient::JackPortClient(const std::string& client_name,
                               const std::vector<std::string>& inputs,
                               const std::vector<std::string>& outputs) {
  jack_status_t status{};
  // libjack reports a missing server in several lines of its own on stderr; our exception says
  // it in one. Quiet while opening, libjack's messages on stderr again once connected.
  jack_set_error_function([](const char*) {});
  jack_set_info_function([](const char*) {});
  client_ = jack_client_open(client_name.c_str(), JackNoStartServer, &status);
  jack_set_error_function([](const char* message) { std::fprintf(stderr, "JACK: %s\n", message); });
  jack_set_info_function([](const char*) {});
  if (client_ == nullptr) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(status));
    throw rt::BackendError(
        std::string("cannot connect to a JACK server (status ") + hex +
        "); start one first, e.g. `jackd -d alsa -r 44100` or `jackd -d dummy -r 44100`");
  }
  auto register_ports = [&](const std::vector<std::string>& names, unsigned long flags,
                            std::vector<jack_port_t*>& ports) {
    for (const auto& name : names) {
      jack_port_t* port =
          jack_port_register(client_, name.c_str(), JACK_DEFAULT_AUDIO_TYPE, flags, 0);
      if (port == nullptr) {
        jack_client_close(client_);
        client_ = nullptr;
        throw rt::BackendError("JACK refused to register port " + name);
      }
      ports.push_back(port);
    }
  };
  register_ports(inputs, JackPortIsInput, inputs_);
  register_ports(outputs, JackPortIsOutput, outputs_);
  in_buffers_.assign(inputs_.size(), nullptr);
  out_buffers_.assign(outputs_.size(), nullptr);
  if (jack_set_process_callback(client_, &on_process, this) != 0 ||
      jack_set_latency_callback(client_, &on_latency, this) != 0 ||
      jack_set_xrun_callback(client_, &on_xrun, this) != 0) {
    jack_client_close(client_);
    client_ = nullptr;
    throw rt::BackendError("JACK refused our callbacks");
  }
  jack_on_info_shutdown(client_, &on_shutdown, this);
}

JackPortClient::~JackPortClient() {
  deactivate();
  if (client_ != nullptr) jack_client_close(client_);
}

std::uint32_t JackPortClient::sample_rate() const {
  return jack_get_sample_rate(client_);
}
std::uint32_t JackPortClient::period_frames() const {
  return jack_get_buffer_size(client_);
}
std::string JackPortClient::client_name() const {
  return jack_get_client_name(client_);
}
std::vector<std::string> JackPortClient::input_port_names() const {
  std::vector<std::string> names;
  for (jack_port_t* p : inputs_) names.emplace_back(jack_port_name(p));
  return names;
}
std::vector<std::string> JackPortClient::output_port_names() const {
  std::vector<std::string> names;
  for (jack_port_t* p : outputs_) names.emplace_back(jack_port_name(p));
  return names;
}

void JackPortClient::set_latency(std::uint32_t frames) {
  latency_.store(frames, std::memory_order_relaxed);
  // Ask the server to run every client's latency callback again.
  if (active_ && !server_gone()) jack_recompute_total_latencies(client_);
}

void JackPortClient::activate(Callback& callback, bool slow_sync) {
  callback_ = &callback;
  if (slow_sync && jack_set_sync_callback(client_, &on_sync, this) != 0)
    throw rt::BackendError("JACK refused our transport sync callback");
  if (jack_activate(client_) != 0) throw rt::BackendError("JACK refused to activate the client");
  active_ = true;
}

void JackPortClient::deactivate() {
  if (!active_) return;
  active_ = false;
  // After a server shutdown the client is a zombie: deactivating it would talk to no one.
  if (!server_gone()) jack_deactivate(client_);
}

std::string JackPortClient::shutdown_message() const {
  if (!server_gone()) return {};
  return std::string("the JACK server shut down (") + (reason_[0] ? reason_ : "no reason given") +
         ")";
}

int JackPortClient::on_process(jack_nframes_t frames, void* arg) {
  rt::AudioThreadScope audio_thread;
  auto* self = static_cast<JackPortClient*>(arg);
  for (std::size_t i = 0; i < self->inputs_.size(); ++i)
    self->in_buffers_[i] =
        static_cast<const float*>(jack_port_get_buffer(self->inputs_[i], frames));
  for (std::size_t i = 0; i < self->outputs_.size(); ++i)
    self->out_buffers_[i] = static_cast<float*>(jack_port_get_buffer(self->outputs_[i], frames));
  self->callback_->process(self->in_buffers_.data(), self->out_buffers_.data(), frames,
                           self->client_);
  return 0;
}

void JackPortClient::on_latency(jack_latency_callback_mode_t mode, void* arg) {
  auto* self = static_cast<JackPortClient*>(arg);
  const jack_nframes_t ours = self->latency();
  if (mode == JackCaptureLatency) {
    // What leaves <source>_L was captured (upstream latency at our inputs) plus ours ago.
    jack_latency_range_t r = max_range(self->inputs_, JackCaptureLatency);
    r.min += ours;
    r.max += ours;
    for (jack_port_t* port : self->outputs_) jack_port_set_latency_range(port, mode, &r);
  } else {
    // What enters in_L is heard after ours plus the playback latency downstream.
    jack_latency_range_t r = max_range(self->outputs_, JackPlaybackLatency);
    r.min += ours;
    r.max += ours;
    for (jack_port_t* port : self->inputs_) jack_port_set_latency_range(port, mode, &r);
  }
}

void JackPortClient::on_shutdown(jack_status_t, const char* reason, void* arg) {
  auto* self = static_cast<JackPortClient*>(arg);
  // JACK's thread: copy into the fixed buffer, then publish.
  if (reason != nullptr) std::snprintf(self->reason_, sizeof self->reason_, "%s", reason);
  self->gone_.store(true, std::memory_order_release);
}

int JackPortClient::on_sync(jack_transport_state_t state, jack_position_t* pos, void* arg) {
  rt::AudioThreadScope audio_thread;
  return static_cast<JackPortClient*>(arg)->callback_->sync(state, pos);
}

int JackPortClient::on_xrun(void* arg) {
  static_cast<JackPortClient*>(arg)->xruns_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

}  // namespace earshot::stems
