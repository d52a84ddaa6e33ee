#include "rt/backends/jack_backend.hpp"

#include "rt/audio_thread_guard.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace earshot::rt {

namespace {

// libjack prints its own diagnostics ("Cannot connect to server socket...") to stderr; we turn
// every failure into one BackendError line instead. EARSHOT_JACK_VERBOSE=1 keeps them.
void silence_jack_messages() {
  static const bool once = [] {
    const char* verbose = std::getenv("EARSHOT_JACK_VERBOSE");
    if (verbose == nullptr || *verbose == '\0' || *verbose == '0') {
      jack_set_error_function([](const char*) {});
      jack_set_info_function([](const char*) {});
    }
    return true;
  }();
  (void)once;
}

std::string server_name_for_messages() {
  const char* name = std::getenv("JACK_DEFAULT_SERVER");
  return name != nullptr && *name != '\0' ? std::string("'") + name + "'" : "'default'";
}

jack_client_t* open_client(const std::string& name, jack_status_t& status) {
  silence_jack_messages();
  return jack_client_open(name.c_str(), JackNoStartServer, &status);
}

// Maximum latency range over `ports` in `mode`.
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

JackBackend::~JackBackend() {
  close();
}

void JackBackend::open(const StreamConfig& config) {
  close();
  jack_status_t status{};
  client_ = open_client(config.client_name, status);
  if (client_ == nullptr) {
    if (status & JackServerFailed)
      throw BackendError("no JACK server " + server_name_for_messages() +
                         " is running (start one, e.g. `jackd -d dummy` or `jackd -d alsa`)");
    throw BackendError("cannot open a JACK client named '" + config.client_name +
                       "' (jack status 0x" +
                       [&] {
                         char hex[16];
                         std::snprintf(hex, sizeof hex, "%x", static_cast<unsigned>(status));
                         return std::string(hex);
                       }() +
                       ")");
  }
  sample_rate_ = jack_get_sample_rate(client_);
  period_frames_.store(jack_get_buffer_size(client_));
  auto register_ports = [&](std::uint32_t count, const std::string& prefix,
                            const std::vector<std::string>& names, unsigned long flags,
                            std::vector<jack_port_t*>& ports) {
    if (!names.empty() && names.size() != count) {
      close();
      throw BackendError("jack backend: " + std::to_string(names.size()) + " port names for " +
                         std::to_string(count) + " channels");
    }
    for (std::uint32_t c = 0; c < count; ++c) {
      const std::string port_name = names.empty() ? prefix + "_" + std::to_string(c + 1) : names[c];
      jack_port_t* port =
          jack_port_register(client_, port_name.c_str(), JACK_DEFAULT_AUDIO_TYPE, flags, 0);
      if (port == nullptr) {
        close();
        throw BackendError("cannot register JACK port '" + port_name + "'");
      }
      ports.push_back(port);
    }
  };
  register_ports(config.input_channels, config.input_port_prefix, config.input_port_names,
                 JackPortIsInput, inputs_);
  register_ports(config.output_channels, config.output_port_prefix, config.output_port_names,
                 JackPortIsOutput, outputs_);
  in_buffers_.assign(inputs_.size(), nullptr);
  out_buffers_.assign(outputs_.size(), nullptr);

  if (jack_set_process_callback(client_, &process_callback, this) != 0 ||
      jack_set_latency_callback(client_, &latency_callback, this) != 0 ||
      jack_set_xrun_callback(client_, &xrun_callback, this) != 0 ||
      jack_set_buffer_size_callback(client_, &buffer_size_callback, this) != 0) {
    close();
    throw BackendError("cannot install the JACK callbacks");
  }
  jack_on_info_shutdown(client_, &shutdown_callback, this);
  reset_status();
}

void JackBackend::start(AudioProcessor& processor) {
  if (client_ == nullptr) throw BackendError("jack backend: start() before open()");
  if (finished()) throw BackendError(finish_message());
  processor_ = &processor;
  if (jack_activate(client_) != 0) throw BackendError("cannot activate the JACK client");
  active_ = true;
}

void JackBackend::stop() {
  // After a server shutdown the client is a zombie: deactivating it would talk to no one.
  if (client_ != nullptr && active_ && !failed()) jack_deactivate(client_);
  active_ = false;
}

void JackBackend::close() {
  stop();
  if (client_ != nullptr) jack_client_close(client_);
  client_ = nullptr;
  inputs_.clear();
  outputs_.clear();
  processor_ = nullptr;
  sync_ = nullptr;
}

void JackBackend::set_transport_sync(JackTransportSync& sync) {
  if (client_ == nullptr) throw BackendError("jack backend: set_transport_sync() before open()");
  sync_ = &sync;
  if (jack_set_sync_callback(client_, &sync_callback, this) != 0)
    throw BackendError("cannot install the JACK transport sync callback");
}

void JackBackend::set_processing_latency(std::uint32_t frames) {
  AudioBackend::set_processing_latency(frames);
  // Ask the server to run the latency callbacks again with the new value.
  if (client_ != nullptr && !failed()) jack_recompute_total_latencies(client_);
}

BackendLatency JackBackend::latency() const {
  BackendLatency l;
  if (client_ == nullptr || failed()) return l;
  for (jack_port_t* port : inputs_) {
    jack_latency_range_t r{};
    jack_port_get_latency_range(port, JackCaptureLatency, &r);
    l.input_frames = std::max(l.input_frames, r.max);
  }
  for (jack_port_t* port : outputs_) {
    jack_latency_range_t r{};
    jack_port_get_latency_range(port, JackPlaybackLatency, &r);
    l.output_frames = std::max(l.output_frames, r.max);
  }
  return l;
}

std::string JackBackend::client_name() const {
  return client_ != nullptr ? jack_get_client_name(client_) : "";
}

std::vector<std::string> JackBackend::input_port_names() const {
  std::vector<std::string> names;
  for (jack_port_t* p : inputs_) names.emplace_back(jack_port_name(p));
  return names;
}

std::vector<std::string> JackBackend::output_port_names() const {
  std::vector<std::string> names;
  for (jack_port_t* p : outputs_) names.emplace_back(jack_port_name(p));
  return names;
}

void JackBackend::connect_physical_ports() {
  if (client_ == nullptr) return;
  auto connect_in_order = [&](unsigned long flags, const std::vector<jack_port_t*>& ours,
                              bool ours_are_inputs) {
    const char** physical =
        jack_get_ports(client_, nullptr, JACK_DEFAULT_AUDIO_TYPE, JackPortIsPhysical | flags);
    if (physical == nullptr) return;
    for (std::size_t i = 0; i < ours.size() && physical[i] != nullptr; ++i) {
      if (ours_are_inputs)
        jack_connect(client_, physical[i], jack_port_name(ours[i]));
      else
        jack_connect(client_, jack_port_name(ours[i]), physical[i]);
    }
    jack_free(physical);
  };
  connect_in_order(JackPortIsOutput, inputs_, true);   // capture -> our inputs
  connect_in_order(JackPortIsInput, outputs_, false);  // our outputs -> playback
}

int JackBackend::process_callback(jack_nframes_t frames, void* arg) {
  auto* self = static_cast<JackBackend*>(arg);
  // Names the thread earshot-rt on the first call; marks it for the guard during the callback
  // (JACK's own code between cycles is not ours to police).
  AudioThreadScope audio_thread;
  for (std::size_t c = 0; c < self->inputs_.size(); ++c)
    self->in_buffers_[c] =
        static_cast<const float*>(jack_port_get_buffer(self->inputs_[c], frames));
  for (std::size_t c = 0; c < self->outputs_.size(); ++c)
    self->out_buffers_[c] = static_cast<float*>(jack_port_get_buffer(self->outputs_[c], frames));
  if (self->processor_ != nullptr) {
    self->processor_->process(self->inputs_.empty() ? nullptr : self->in_buffers_.data(),
                              self->outputs_.empty() ? nullptr : self->out_buffers_.data(), frames);
  } else {
    for (float* out : self->out_buffers_) std::memset(out, 0, frames * sizeof(float));
  }
  return 0;
}

void JackBackend::latency_callback(jack_latency_callback_mode_t mode, void* arg) {
  auto* self = static_cast<JackBackend*>(arg);
  const jack_nframes_t ours = self->processing_latency();
  if (mode == JackCaptureLatency) {
    // Signal leaving out_N was captured (upstream latency of our inputs) plus our delay ago.
    jack_latency_range_t r = max_range(self->inputs_, JackCaptureLatency);
    r.min += ours;
    r.max += ours;
    for (jack_port_t* port : self->outputs_) jack_port_set_latency_range(port, mode, &r);
  } else {
    // Signal entering in_N will be heard after our delay plus the playback latency downstream.
    jack_latency_range_t r = max_range(self->outputs_, JackPlaybackLatency);
    r.min += ours;
    r.max += ours;
    for (jack_port_t* port : self->inputs_) jack_port_set_latency_range(port, mode, &r);
  }
}

int JackBackend::xrun_callback(void* arg) {
  static_cast<JackBackend*>(arg)->count_xrun();
  return 0;
}

int JackBackend::buffer_size_callback(jack_nframes_t frames, void* arg) {
  static_cast<JackBackend*>(arg)->period_frames_.store(frames, std::memory_order_relaxed);
  return 0;
}

void JackBackend::shutdown_callback(jack_status_t, const char* reason, void* arg) {
  // Runs on a JACK thread; mark_finished only copies into a fixed buffer.
  char message[200];
  std::snprintf(message, sizeof message, "the JACK server shut down (%s)",
                reason != nullptr && *reason != '\0' ? reason : "no reason given");
  static_cast<JackBackend*>(arg)->mark_finished(message, true);
}

int JackBackend::sync_callback(jack_transport_state_t state, jack_position_t* pos, void* arg) {
  // JACK calls it on the process thread, before the cycle's process callback.
  AudioThreadScope audio_thread;
  JackTransportSync* sync = static_cast<JackBackend*>(arg)->sync_;
  return sync != nullptr ? sync->ready_to_roll(state, pos) : 1;
}

bool jack_server_running() {
  jack_status_t status{};
  jack_client_t* client = open_client("earshot-probe", status);
  if (client == nullptr) return false;
  jack_client_close(client);
  return true;
}

std::vector<std::string> list_jack_ports() {
  jack_status_t status{};
  jack_client_t* client = open_client("earshot-devices", status);
  if (client == nullptr)
    throw BackendError("no JACK server " + server_name_for_messages() + " is running");
  std::vector<std::string> out;
  const char** ports = jack_get_ports(client, nullptr, nullptr, 0);
  for (std::size_t i = 0; ports != nullptr && ports[i] != nullptr; ++i) {
    jack_port_t* port = jack_port_by_name(client, ports[i]);
    const int flags = port != nullptr ? jack_port_flags(port) : 0;
    const char* type = port != nullptr ? jack_port_type(port) : "?";
    std::string line = ports[i];
    line += "  (";
    line += std::strcmp(type, JACK_DEFAULT_AUDIO_TYPE) == 0 ? "audio" : type;
    line += (flags & JackPortIsOutput) ? ", output" : ", input";
    if (flags & JackPortIsPhysical) line += ", physical";
    line += ")";
    out.push_back(std::move(line));
  }
  if (ports != nullptr) jack_free(ports);
  jack_client_close(client);
  return out;
}

}  // namespace earshot::rt
