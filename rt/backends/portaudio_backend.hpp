// The PortAudio backend: any device PortAudio sees (ALSA, PulseAudio via ALSA, JACK host API...).
//
// Devices are chosen by a spec string: "" or "default" for the host's default device, a number
// for a device index (as `earshot devices` lists them), or otherwise a case-insensitive
// substring of the device name (an exact name wins over partial matches). No match, or an
// ambiguous one, is a BackendError naming the spec. The stream is float32, non-interleaved
// (planar, matching AudioProcessor), with the period as PortAudio's frames per buffer.
#pragma once

#include "rt/backends/audio_backend.hpp"

#include <portaudio.h>

#include <atomic>
#include <string>
#include <vector>

namespace earshot::rt {

struct PortAudioDevice {
  int index = -1;
  std::string name;
  std::string host_api;
  int max_input_channels = 0;
  int max_output_channels = 0;
  double default_sample_rate = 0;
  bool default_input = false;
  bool default_output = false;
};

// Keeps PortAudio initialised while alive (reference counted by PortAudio itself). Hides the
// ALSA/JACK probing chatter PortAudio prints while it initialises.
class PortAudioSession {
 public:
  PortAudioSession();
  ~PortAudioSession();
  PortAudioSession(const PortAudioSession&) = delete;
  PortAudioSession& operator=(const PortAudioSession&) = delete;
};

std::vector<PortAudioDevice> list_portaudio_devices();

enum class DeviceDirection { Input, Output };
// Resolves a device spec (see above) to a device; throws BackendError when none matches.
PortAudioDevice find_portaudio_device(const std::string& spec, DeviceDirection direction);

struct PortAudioOptions {
  std::string input_device = "default";   // used when input_channels > 0
  std::string output_device = "default";  // used when output_channels > 0
};

class PortAudioBackend final : public AudioBackend {
 public:
  explicit PortAudioBackend(PortAudioOptions options = {});
  ~PortAudioBackend() override;

  std::string name() const override { return "portaudio"; }
  void open(const StreamConfig& config) override;
  void start(AudioProcessor& processor) override;
  void stop() override;
  void close();

  double sample_rate() const override { return sample_rate_; }
  std::uint32_t period_frames() const override { return config_.period_frames; }
  std::uint32_t input_channels() const override { return config_.input_channels; }
  std::uint32_t output_channels() const override { return config_.output_channels; }
  BackendLatency latency() const override;

  const PortAudioDevice& input_device() const { return input_device_; }
  const PortAudioDevice& output_device() const { return output_device_; }

 private:
  static int callback(const void* input, void* output, unsigned long frames,
                      const PaStreamCallbackTimeInfo* time_info, PaStreamCallbackFlags status_flags,
                      void* arg);
  static void finished_callback(void* arg);

  PortAudioOptions options_;
  PortAudioSession session_;
  StreamConfig config_;
  PortAudioDevice input_device_, output_device_;
  PaStream* stream_ = nullptr;
  AudioProcessor* processor_ = nullptr;
  double sample_rate_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace earshot::rt
