// `earshot deck FILE --jack --model DIR`: a DJ deck. Plays FILE as the JACK client
// `earshot-deck` (outputs master_L/_R and <source>_L/_R), separating stems ahead of the JACK
// transport's playhead so they come out in sync with zero added latency; see
// nodes/stems/stem_deck.hpp. Roll, stop and locate with any transport client (e.g.
// `jack_transport`).
//
// Mixer commands on stdin, one per line (nodes/stems/deck_command.hpp):
//   gain vocals -6    mute drums    unmute drums    solo bass    unsolo bass    reset    quit
#include "apps/command.hpp"
#include "nodes/stems/stem_deck.hpp"
#include "rt/memory_budget.hpp"
#include "rt/stop_signal.hpp"
#include "rt/thread_team.hpp"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace earshot::app {
namespace {

struct DeckCliOptions {
  std::string input, model, client_name = "earshot-deck";
  bool jack = false;
  double segment = 0.0, overlap = 0.25, lookahead = 30.0, budget_mb = 2048.0;
  int threads = 0;  // 0: one per hardware core
};

int run_deck(const DeckCliOptions& o) {
  if (!o.jack) throw std::invalid_argument("the deck plays through JACK: add --jack");
  if (o.lookahead <= 0) throw std::invalid_argument("--lookahead must be positive");
  // Ctrl-C / SIGTERM (or `quit`) end the loop below; the deck then stops cleanly.
  const rt::ScopedStopSignal interrupt;
  bool quit = false;

  if (o.threads < 0) throw std::invalid_argument("--threads must be at least 1");
  const unsigned cores = std::thread::hardware_concurrency();
  const int threads = o.threads > 0 ? o.threads : (cores == 0 ? 1 : static_cast<int>(cores));
  rt::MemoryBudget budget(static_cast<std::size_t>(o.budget_mb * 1024 * 1024));
  // The team outlives the model; the deck's separator thread is its worker 0.
  rt::ThreadTeam team(threads);
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(o.model, budget, &team);
  stems::DeckOptions options;
  options.client_name = o.client_name;
  options.overlap = o.overlap;
  if (o.segment > 0) options.segment = static_cast<std::int64_t>(o.segment * bag.samplerate());
  options.lookahead_seconds = o.lookahead;
  stems::StemDeck deck(bag, o.input, options, budget);
  deck.start();
  std::fprintf(stderr,
               "earshot deck: %s, %.1f s, streamed from disk; JACK client '%s' at %d Hz%s; "
               "look-ahead %.1f s\n  outputs:",
               o.input.c_str(), static_cast<double>(deck.song_frames()) / deck.rate(),
               deck.client().client_name().c_str(), deck.rate(),
               deck.resampling() ? " (stems resampled from the model's rate)" : "",
               static_cast<double>(deck.lookahead()) / deck.rate());
  for (const auto& p : deck.client().output_port_names()) std::fprintf(stderr, " %s", p.c_str());
  std::fprintf(stderr,
               "\n  follows JACK transport; stdin: gain SOURCE DB | mute/unmute/solo/unsolo "
               "SOURCE | reset | quit\n");

  bool reported = false, stdin_open = true;
  std::string pending;
  while (!quit && !interrupt.requested() && !deck.server_gone()) {
    deck.rethrow_if_failed();
    if (!reported && deck.time_to_first_stems() >= 0) {
      std::fprintf(stderr, "earshot deck: first stems ready after %.3f s\n",
                   deck.time_to_first_stems());
      reported = true;
    }
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    if (!stdin_open || ::poll(&fd, 1, 50) <= 0) {
      if (!stdin_open) ::usleep(50000);
      continue;
    }
    char buffer[512];
    const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (got <= 0) {
      stdin_open = false;  // no more commands; keep playing until Ctrl-C
      continue;
    }
    pending.append(buffer, static_cast<std::size_t>(got));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (line == "quit")
        quit = true;
      else {
        try {
          deck.send(line);
          std::fprintf(stderr, "ok: %s\n", line.c_str());
        } catch (const std::exception& e) {
          std::fprintf(stderr, "earshot deck: %s\n", e.what());
        }
      }
    }
  }
  const bool gone = deck.server_gone();
  deck.stop();
  std::fprintf(stderr,
               "earshot deck: %llu frames played from the mix while stems were not ready, %llu "
               "silent before the mix was read\n",
               static_cast<unsigned long long>(deck.mix_frames()),
               static_cast<unsigned long long>(deck.gap_frames()));
  if (gone) throw std::runtime_error(deck.shutdown_message() + "; stopped");
  return 0;
}

const RegisterCommand kRegisterDeck{Command{
    "deck",
    "DJ deck: play FILE through JACK with stems separated ahead of the playhead (zero latency)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<DeckCliOptions>();
      sub.add_option("file", o->input, "Song (any format libsndfile reads)")->required();
      sub.add_flag("--jack", o->jack, "Play through JACK (required)");
      sub.add_option("--model", o->model, "HTDemucs model directory")->required();
      sub.add_option("--client-name", o->client_name, "JACK client name")->capture_default_str();
      sub.add_option("--segment", o->segment, "Chunk length in seconds (default: the model's)");
      sub.add_option("--overlap", o->overlap, "Overlap between chunks, in [0, 1)")
          ->capture_default_str();
      sub.add_option("--lookahead", o->lookahead, "Seconds of stems kept ahead of the playhead")
          ->capture_default_str();
      sub.add_option("--threads", o->threads,
                     "Threads separating (default: one per hardware core)");
      sub.add_option("--budget-mb", o->budget_mb, "Memory budget in MiB")->capture_default_str();
      return [o] { return run_deck(*o); };
    }}};

}  // namespace
}  // namespace earshot::app
