// `earshot monitor`: the real-time path (backend -> ring -> worker pass-through -> ring ->
// backend) with level meters, xruns, underflows and latency. Logic: rt/backends/monitor_session.
#include "apps/command.hpp"
#include "rt/backends/monitor_session.hpp"
#include "rt/stop_signal.hpp"

#include <cstdio>
#include <memory>

namespace earshot::app {
namespace {

int run_monitor_command(const rt::MonitorOptions& options) {
  // Ctrl-C / SIGTERM end the run cleanly: the output file is finished, the summary printed.
  rt::ScopedStopSignal stop;
  return rt::run_monitor(options, stdout, &rt::ScopedStopSignal::flag());
}

const RegisterCommand kRegisterMonitor{Command{
    "monitor",
    "Run the real-time path with a pass-through node: level meters (peak/RMS dBFS per channel),\n"
    "xruns, underflows and latency, printed at a steady rate. Without a sound card the default\n"
    "output is a null device at real-time pace.",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<rt::MonitorOptions>();
      sub.add_option("--input", o->input,
                     "tone (generated sine), mic (PortAudio input), jack (JACK ports), or an "
                     "audio FILE (anything libsndfile reads)")
          ->capture_default_str();
      sub.add_option("--output", o->output,
                     "auto (default device, else null), null (discard, real-time pace), jack, "
                     "portaudio, or FILE.wav/.flac/.ogg/...")
          ->capture_default_str();
      sub.add_option("--backend", o->backend,
                     "clock owner: auto (from --input/--output), null, file, jack, portaudio")
          ->check(CLI::IsMember({"auto", "null", "file", "jack", "portaudio"}))
          ->capture_default_str();
      sub.add_option("--seconds", o->seconds, "stop after this long (0: until end/Ctrl-C)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      sub.add_option("--rate", o->rate,
                     "sample rate in Hz (0: the input file's or device's, else 48000; JACK uses "
                     "the server's)")
          ->check(CLI::Range(0.0, 768000.0))
          ->capture_default_str();
      sub.add_option("--node-rate", o->node_rate,
                     "run the pass-through node at this rate, converting with libsoxr both ways "
                     "(0: the device's rate)")
          ->check(CLI::Range(0.0, 768000.0))
          ->capture_default_str();
      sub.add_option("--period", o->period, "frames per callback (JACK uses the server's)")
          ->check(CLI::Range(1u, 65536u))
          ->capture_default_str();
      sub.add_option(
             "--channels", o->channels,
             "channels for tone, mic and jack (a file into the file/null backend brings its own)")
          ->check(CLI::Range(1u, 64u))
          ->capture_default_str();
      sub.add_option("--headroom", o->headroom,
                     "extra latency in frames, slack for the worker (-1: one period)")
          ->check(CLI::Range(static_cast<std::int64_t>(-1), static_cast<std::int64_t>(1) << 22))
          ->capture_default_str();
      sub.add_option("--tone-hz", o->tone_hz, "tone frequency")
          ->check(CLI::Range(1.0, 100000.0))
          ->capture_default_str();
      sub.add_option("--tone-dbfs", o->tone_dbfs, "tone level")
          ->check(CLI::Range(-120.0, 0.0))
          ->capture_default_str();
      sub.add_flag("--fast", o->fast, "file backend: run as fast as possible, not in real time");
      sub.add_option("--report-interval", o->report_interval, "seconds between meter lines")
          ->check(CLI::Range(0.01, 3600.0))
          ->capture_default_str();
      sub.add_option("--input-device", o->input_device,
                     "PortAudio input: default, an index or part of a name (`earshot devices`)")
          ->capture_default_str();
      sub.add_option("--output-device", o->output_device,
                     "PortAudio output: default, an index or part of a name")
          ->capture_default_str();
      sub.add_option("--client-name", o->client_name, "JACK client name")->capture_default_str();
      auto no_connect_flag = std::make_shared<bool>(false);
      sub.add_flag("--no-autoconnect", *no_connect_flag,
                   "JACK: leave our ports unconnected (default: connect to physical ports)");
      return [o, no_connect_flag] {
        o->jack_autoconnect = !*no_connect_flag;
        return run_monitor_command(*o);
      };
    }}};

}  // namespace
}  // namespace earshot::app
