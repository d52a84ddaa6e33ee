// `earshot devices`: PortAudio devices (index, name, host API, channels, default rate) and the
// ports of the running JACK server, or a clear line that none is running.
#include "apps/command.hpp"
#include "rt/backends/jack_backend.hpp"
#include "rt/backends/portaudio_backend.hpp"

#include <cstdio>

namespace earshot::app {
namespace {

int run_devices() {
  const auto devices = rt::list_portaudio_devices();
  std::printf("PortAudio devices (select with --input-device/--output-device INDEX or NAME):\n");
  if (devices.empty()) std::printf("  (none: no sound card found)\n");
  for (const auto& d : devices) {
    std::printf("  %2d  %-40s %-12s in %2d  out %2d  %6.0f Hz%s%s\n", d.index, d.name.c_str(),
                d.host_api.c_str(), d.max_input_channels, d.max_output_channels,
                d.default_sample_rate, d.default_input ? "  [default input]" : "",
                d.default_output ? "  [default output]" : "");
  }
  if (!rt::jack_server_running()) {
    std::printf("JACK: no JACK server is running (start one, e.g. `jackd -d dummy`)\n");
    return 0;
  }
  const auto ports = rt::list_jack_ports();
  std::printf("JACK ports:\n");
  for (const auto& p : ports) std::printf("  %s\n", p.c_str());
  return 0;
}

const RegisterCommand kRegisterDevices{
    Command{"devices", "List PortAudio devices and the ports of the running JACK server",
            [](CLI::App&) -> RunFn { return [] { return run_devices(); }; }}};

}  // namespace
}  // namespace earshot::app
