#include "rt/backends/portaudio_backend.hpp"

#include "rt/audio_thread_guard.hpp"

#include <fcntl.h>
#include <portaudio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace earshot::rt {

namespace {

// PortAudio's ALSA and JACK probes print pages of diagnostics to stderr on machines without a
// sound card or JACK server. They are not errors of ours; hide them while PortAudio initialises.
class StderrSilencer {
 public:
  StderrSilencer() {
    const char* verbose = std::getenv("EARSHOT_PORTAUDIO_VERBOSE");
    if (verbose != nullptr && *verbose != '\0' && *verbose != '0') return;
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (saved_ >= 0 && null_fd >= 0) ::dup2(null_fd, 2);
    if (null_fd >= 0) ::close(null_fd);
  }
  ~StderrSilencer() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void throw_pa(const std::string& what, PaError error) {
  throw BackendError(what + ": " + Pa_GetErrorText(error));
}

PortAudioDevice describe(int index) {
  const PaDeviceInfo* info = Pa_GetDeviceInfo(index);
  PortAudioDevice d;
  d.index = index;
  if (info == nullptr) return d;
  d.name = info->name != nullptr ? info->name : "";
  const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
  d.host_api = api != nullptr && api->name != nullptr ? api->name : "";
  d.max_input_channels = info->maxInputChannels;
  d.max_output_channels = info->maxOutputChannels;
  d.default_sample_rate = info->defaultSampleRate;
  d.default_input = index == Pa_GetDefaultInputDevice();
  d.default_output = index == Pa_GetDefaultOutputDevice();
  return d;
}

}  // namespace

PortAudioSession::PortAudioSession() {
  PaError error;
  {
    StderrSilencer quiet;
    error = Pa_Initialize();
  }
  if (error != paNoError) throw_pa("cannot initialise PortAudio", error);
}

PortAudioSession::~PortAudioSession() {
  Pa_Terminate();
}

std::vector<PortAudioDevice> list_portaudio_devices() {
  PortAudioSession session;
  std::vector<PortAudioDevice> devices;
  const int count = Pa_GetDeviceCount();
  if (count < 0) throw_pa("cannot list PortAudio devices", count);
  for (int i = 0; i < count; ++i) devices.push_back(describe(i));
  return devices;
}

PortAudioDevice find_portaudio_device(const std::string& spec, DeviceDirection direction) {
  PortAudioSession session;
  const bool input = direction == DeviceDirection::Input;
  const char* kind = input ? "input" : "output";
  auto usable = [&](const PortAudioDevice& d) {
    return input ? d.max_input_channels > 0 : d.max_output_channels > 0;
  };
  if (spec.empty() || spec == "default") {
    const int index = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    if (index == paNoDevice)
      throw BackendError(std::string("no default PortAudio ") + kind +
                         " device (no sound card? run `earshot devices` to list devices)");
    return describe(index);
  }
  const int count = Pa_GetDeviceCount();
  if (std::all_of(spec.begin(), spec.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    const long index = spec.size() > 9 ? -1 : std::stol(spec);
    if (index < 0 || index >= count)
      throw BackendError("no PortAudio device with index " + spec + " (there are " +
                         std::to_string(std::max(count, 0)) +
                         "; run `earshot devices` to list them)");
    PortAudioDevice d = describe(static_cast<int>(index));
    if (!usable(d))
      throw BackendError("PortAudio device " + spec + " ('" + d.name + "') has no " + kind +
                         " channels");
    return d;
  }
  std::vector<PortAudioDevice> matches;
  for (int i = 0; i < count; ++i) {
    PortAudioDevice d = describe(i);
    if (!usable(d)) continue;
    if (lower(d.name) == lower(spec)) return d;
    if (lower(d.name).find(lower(spec)) != std::string::npos) matches.push_back(d);
  }
  if (matches.empty())
    throw BackendError("no PortAudio " + std::string(kind) + " device matches '" + spec +
                       "' (run `earshot devices` to list them)");
  if (matches.size() > 1)
    throw BackendError("'" + spec + "' matches " + std::to_string(matches.size()) + " PortAudio " +
                       kind + " devices ('" + matches[0].name + "', '" + matches[1].name +
                       "'...); use the index from `earshot devices`");
  return matches[0];
}

PortAudioBackend::PortAudioBackend(PortAudioOptions options) : options_(std::move(options)) {}

PortAudioBackend::~PortAudioBackend() {
  close();
}

void PortAudioBackend::open(const StreamConfig& config) {
  close();
  config_ = config;
  if (config.input_channels == 0 && config.output_channels == 0)
    throw BackendError("portaudio backend: no channels requested");
  // One direction's parameters (nullptr for no channels): the chosen device, checked for enough
  // channels, non-interleaved float at its low latency.
  const auto parameters = [](std::uint32_t channels, const std::string& spec,
                             DeviceDirection direction, PortAudioDevice& device,
                             PaStreamParameters& p) -> PaStreamParameters* {
    if (channels == 0) return nullptr;
    const bool input = direction == DeviceDirection::Input;
    device = find_portaudio_device(spec, direction);
    const int available = input ? device.max_input_channels : device.max_output_channels;
    if (static_cast<int>(channels) > available)
      throw BackendError("PortAudio device '" + device.name + "' has " + std::to_string(available) +
                         (input ? " input" : " output") + " channels, not " +
                         std::to_string(channels));
    p.device = device.index;
    p.channelCount = static_cast<int>(channels);
    p.sampleFormat = paFloat32 | paNonInterleaved;
    const PaDeviceInfo* info = Pa_GetDeviceInfo(p.device);
    p.suggestedLatency = input ? info->defaultLowInputLatency : info->defaultLowOutputLatency;
    return &p;
  };
  PaStreamParameters in{}, out{};
  PaStreamParameters* in_ptr = parameters(config.input_channels, options_.input_device,
                                          DeviceDirection::Input, input_device_, in);
  PaStreamParameters* out_ptr = parameters(config.output_channels, options_.output_device,
                                           DeviceDirection::Output, output_device_, out);
  sample_rate_ = config.sample_rate > 0 ? config.sample_rate
                                        : (out_ptr ? output_device_.default_sample_rate
                                                   : input_device_.default_sample_rate);
  if (Pa_IsFormatSupported(in_ptr, out_ptr, sample_rate_) != paFormatIsSupported)
    throw BackendError("the PortAudio device does not support " +
                       std::to_string(static_cast<long>(sample_rate_)) + " Hz with " +
                       std::to_string(config.input_channels) + " in / " +
                       std::to_string(config.output_channels) + " out channels of float32");
  const PaError error = Pa_OpenStream(&stream_, in_ptr, out_ptr, sample_rate_, config.period_frames,
                                      paClipOff, &callback, this);
  if (error != paNoError) {
    stream_ = nullptr;
    throw_pa("cannot open the PortAudio stream", error);
  }
  Pa_SetStreamFinishedCallback(stream_, &finished_callback);
  reset_status();
}

void PortAudioBackend::start(AudioProcessor& processor) {
  if (stream_ == nullptr) throw BackendError("portaudio backend: start() before open()");
  processor_ = &processor;
  stopping_.store(false);
  const PaError error = Pa_StartStream(stream_);
  if (error != paNoError) throw_pa("cannot start the PortAudio stream", error);
}

void PortAudioBackend::stop() {
  if (stream_ == nullptr) return;
  stopping_.store(true);
  if (Pa_IsStreamActive(stream_) == 1) Pa_StopStream(stream_);
}

void PortAudioBackend::close() {
  stop();
  if (stream_ != nullptr) Pa_CloseStream(stream_);
  stream_ = nullptr;
}

BackendLatency PortAudioBackend::latency() const {
  BackendLatency l;
  const PaStreamInfo* info = stream_ != nullptr ? Pa_GetStreamInfo(stream_) : nullptr;
  if (info == nullptr) return l;
  l.input_frames = static_cast<std::uint32_t>(std::lround(info->inputLatency * sample_rate_));
  l.output_frames = static_cast<std::uint32_t>(std::lround(info->outputLatency * sample_rate_));
  return l;
}

int PortAudioBackend::callback(const void* input, void* output, unsigned long frames,
                               const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags status_flags,
                               void* arg) {
  auto* self = static_cast<PortAudioBackend*>(arg);
  AudioThreadScope audio_thread;  // names the thread earshot-rt on the first call
  if (status_flags & (paInputOverflow | paInputUnderflow | paOutputOverflow | paOutputUnderflow))
    self->count_xrun();
  // Non-interleaved streams hand arrays of per-channel pointers.
  self->processor_->process(static_cast<const float* const*>(input),
                            static_cast<float* const*>(output), static_cast<std::uint32_t>(frames));
  return paContinue;
}

void PortAudioBackend::finished_callback(void* arg) {
  auto* self = static_cast<PortAudioBackend*>(arg);
  if (!self->stopping_.load())
    self->mark_finished("the PortAudio stream stopped (device gone?)", true);
}

}  // namespace earshot::rt
