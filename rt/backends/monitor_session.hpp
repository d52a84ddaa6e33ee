// `earshot monitor`: the whole real-time path with a pass-through node, reporting level meters,
// xruns, underflows and latency. The command (apps/cmd_monitor.cpp) only parses options; all the
// logic is here so tests reach it.
//
// Which backend drives the clock follows from --input/--output unless --backend says:
//   --input jack or --output jack           -> JACK (input tone, jack or FILE; output jack)
//   --input mic  or --output portaudio      -> PortAudio (input tone, mic or FILE)
//   --output FILE, or --input FILE          -> file backend (input tone or FILE)
//   otherwise (tone; output null or auto)   -> PortAudio when auto finds a default output
//                                              device, else the null backend at real-time pace
// A FILE into JACK or PortAudio is decoded ahead by a reader thread (FileInputGenerator).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

namespace earshot::rt {

struct MonitorOptions {
  std::string input = "tone";    // tone | mic | jack | FILE
  std::string output = "auto";   // auto | null | jack | portaudio | FILE (by extension)
  std::string backend = "auto";  // auto | null | file | jack | portaudio
  double seconds = 0;            // 0 = until the input ends or Ctrl-C
  double rate = 0;               // 0 = the input file's or the device's rate, else 48000
  std::uint32_t period = 256;
  double node_rate = 0;        // run the node at this rate (resampled both ways); 0 = device's
  std::uint32_t channels = 2;  // for tone, jack and mic (a file brings its own)
  std::int64_t headroom = -1;  // extra latency frames for slack; -1 = one period
  double tone_hz = 440.0;
  double tone_dbfs = -12.0;
  bool fast = false;                      // file backend: as fast as possible instead of real time
  double report_interval = 0.5;           // seconds between meter lines
  std::string input_device = "default";   // PortAudio
  std::string output_device = "default";  // PortAudio
  bool jack_autoconnect = true;           // connect to the physical JACK ports
  std::string client_name = "earshot";
};

// Runs until --seconds, the end of the input, a stop request, or a backend failure (server
// gone), printing to `out`. Returns 0; throws BackendError (one line) for bad options, missing
// devices/servers/files and for a stream that failed while running.
int run_monitor(const MonitorOptions& options, std::FILE* out,
                const std::atomic<bool>* stop_requested = nullptr);

}  // namespace earshot::rt
