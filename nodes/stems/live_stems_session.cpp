#include "nodes/stems/live_stems_session.hpp"

#include "nodes/stems/live_stems_node.hpp"
#include "rt/memory_budget.hpp"
#include "rt/stop_signal.hpp"
#include "rt/thread_team.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace earshot::stems {
int run_live_stems(const LiveSessionOptions& o) {
  // Only a flag: the main loop stops the node cleanly (deactivate, join the worker).
  const rt::ScopedStopSignal interrupt;
  if (o.segment_seconds < 0.0) throw std::invalid_argument("--segment must be positive");

  if (o.threads < 1) throw std::invalid_argument("--threads must be at least 1");
  rt::MemoryBudget budget(o.budget_bytes);
  // The team outlives the model; the node's worker thread is its worker 0.
  rt::ThreadTeam team(o.threads);
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(o.model, budget, &team);
  LiveStemsOptions options;
  options.client_name = o.client_name;
  options.overlap = o.overlap;
  if (o.segment_seconds > 0) {
    options.segment = static_cast<std::int64_t>(bag.samplerate() * o.segment_seconds);
    if (options.segment < 1) throw std::invalid_argument("--segment too short");
  }
  if (o.margin_ms >= 0) options.margin_seconds = o.margin_ms / 1000.0;
  LiveStemsNode node(bag, options, budget);
  node.start();

  const double rate = node.rate();
  std::fprintf(stderr,
               "earshot stems: JACK client '%s', %d sources, segment %lld, stride %lld, %d "
               "thread%s\n",
               node.client().client_name().c_str(), bag.num_sources(),
               static_cast<long long>(node.segment()), static_cast<long long>(node.stride()),
               o.threads, o.threads == 1 ? "" : "s");
  std::fprintf(stderr, "  inputs:");
  for (const auto& p : node.client().input_port_names()) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr, "\n  outputs:");
  for (const auto& p : node.client().output_port_names()) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr, "\n  latency %u frames at %.0f Hz (%.3f s = segment + stride + margin %lld",
               node.latency_frames(), rate, node.latency_frames() / rate,
               static_cast<long long>(node.margin()));
  if (node.resampling())
    std::fprintf(stderr, " + resampler %lld; the model runs at %d Hz",
                 static_cast<long long>(node.resampler_delay()), bag.samplerate());
  std::fprintf(stderr, "), reported to JACK\n  Ctrl-C to stop\n");

  while (!interrupt.requested() && !node.server_gone()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    node.rethrow_if_failed();
  }
  const bool gone = node.server_gone();
  node.stop();
  std::fprintf(stderr, "earshot stems: %llu chunks separated, %llu output frames late (silenced)\n",
               static_cast<unsigned long long>(node.chunks_done()),
               static_cast<unsigned long long>(node.late_frames()));
  if (gone) throw std::runtime_error(node.shutdown_message() + "; stopped");
  return 0;
}

}  // namespace earshot::stems
