// `earshot stems --jack`: runs the live stems node until Ctrl-C or a server shutdown.
#pragma once

#include <cstddef>
#include <string>

namespace earshot::stems {

struct LiveSessionOptions {
  std::string model;  // model directory (or bag)
  std::string client_name = "earshot-stems";
  double segment_seconds = 0.0;  // 0: the model's training segment
  double overlap = 0.25;
  double margin_ms = -1.0;  // < 0: the node's default (2 periods + 50 ms)
  std::size_t budget_bytes = std::size_t{4} << 30;
  int threads = 1;  // threads separating (a ThreadTeam shared by the model's layers)
};

// Prints the ports and the latency on stderr, runs until SIGINT/SIGTERM (returns 0) or until
// the JACK server goes away (throws std::runtime_error with the server's reason, after a clean
// stop). Late (silenced) output frames are reported at the end.
int run_live_stems(const LiveSessionOptions& options);

}  // namespace earshot::stems
