// `earshot deck FILE --jack`: plays a file as a JACK client with its stems separated AHEAD of
// the playhead, so they come out in sync with zero added latency.
//
// Ports (outputs only): master_L/_R, then <source>_L/_R per model source.
//
//   worker:   song ──ChunkedSeparator──► look-ahead ring of stems [song frame % K]
//   JACK:     transport frame f ──► stems[f] (× gain) or, before they are ready, the mix[f]
//
// The song (resampled to the model rate) is held in memory; the stems live in a preallocated
// look-ahead ring of K frames (default 30 s). The worker separates from the region start
// towards the end of the song, never more than K frames ahead of the playhead.
//
// Transport: the deck follows JACK transport. Stopped: silence (the worker keeps separating
// ahead). Rolling: output frame i of a cycle is song frame pos.frame + i. A jump (locate)
// outside what the worker has ready or is about to reach starts a new region: the worker
// re-separates from the chunk grid of the whole song, `back` chunks before the new position
// (back = ceil((L - stride) / stride), 1 at overlap 0.25), so every frame from the new position
// on gets contributions from exactly the chunks of the offline separation: the stems equal
// the offline stems of the whole file (except where a chunk would start less than half a
// padding before the song's end, which demucs pads with context the region lacks).
// Until the stems of the new position are ready the master plays the full mix and the stem
// outputs are silent; then master crossfades (`crossfade` frames, linear) to the sum of the
// gained stems, and the stem outputs fade in. Never silence on master while the song plays.
// A start or jump that lands on frames already separated switches to stems at once. A new
// region aims ahead of the jump by the measured time its first stems take, so a worker with
// headroom catches the playhead at once instead of chasing it.
//
// Mixer: per-stem gain (dB), mute, solo through a control queue (DeckCommand, see
// deck_command.hpp). Gains move linearly over one period (no clicks).
//
// The audio thread only reads the song and the ring, and drains the control queue: no
// allocation, lock or wait. A new region re-creates the separator on the worker (reserving
// from the memory budget): allocation on the worker, never on the audio thread.
#pragma once

#include "models/htdemucs/separator.hpp"
#include "nodes/stems/deck_command.hpp"
#include "nodes/stems/jack_port_client.hpp"
#include "rt/control_queue.hpp"
#include "rt/memory_budget.hpp"
#include "rt/worker_thread.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace earshot::stems {

struct DeckOptions {
  std::string client_name = "earshot-deck";
  std::int64_t segment = 0;  // frames per chunk; 0: the model's training length
  double overlap = 0.25;
  std::int64_t lookahead = 0;     // stems ring, frames; 0: 30 s (at least 2 segments)
  std::int64_t crossfade = 2048;  // frames from mix to stems
};

class StemDeck : private JackPortClient::Callback {
 public:
  // song: interleaved stereo at the model's rate. Opens the JACK client (refusing a server at
  // another rate), reserves the song copy, the look-ahead ring and the separator from `budget`,
  // and starts separating from frame 0.
  StemDeck(htdemucs::ModelBag& bag, const std::vector<float>& song, const DeckOptions& options,
           rt::MemoryBudget& budget);
  ~StemDeck() override;

  void start();
  void stop();

  // Control thread: queue a mixer command (false when the queue is full).
  bool send(const DeckCommand& command) { return commands_.try_enqueue(command); }
  // Parses and queues one text command (throws std::invalid_argument on a bad line).
  void send(const std::string& line);

  const JackPortClient& client() const { return *client_; }
  const std::vector<std::string>& sources() const { return sources_; }
  std::int64_t song_frames() const { return frames_; }
  std::int64_t segment() const { return segment_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t lookahead() const { return capacity_; }

  // Seconds from construction to the first stems of the first region (negative until then).
  double time_to_first_stems() const { return first_stems_s_.load(std::memory_order_acquire); }
  // Stems ready for song frames [region_begin, ready_end) of the current region.
  std::int64_t ready_end() const { return ready_end_.load(std::memory_order_acquire); }
  std::uint64_t regions_started() const { return regions_.load(std::memory_order_relaxed); }
  // Frames played from the mix because their stems were not ready yet.
  std::uint64_t mix_frames() const { return mix_frames_.load(std::memory_order_relaxed); }
  std::uint64_t commands_applied() const { return applied_.load(std::memory_order_relaxed); }
  bool server_gone() const { return client_->server_gone(); }
  std::string shutdown_message() const { return client_->shutdown_message(); }
  void rethrow_if_failed() const { worker_->rethrow_if_failed(); }

 private:
  void process(const float* const* in, float* const* out, jack_nframes_t frames,
               jack_client_t* client) noexcept override;
  void apply(const DeckCommand& command) noexcept;  // audio thread
  bool stems_ready(std::int64_t first, std::int64_t frames) const noexcept;
  void request_region(std::int64_t frame) noexcept;  // audio thread
  void work();                                       // worker thread
  void begin_region(std::uint64_t gen);              // worker thread
  bool write_pending();                              // worker: false when the ring is full

  htdemucs::ModelBag& bag_;
  rt::MemoryBudget& budget_;
  htdemucs::SeparatorOptions sep_options_;
  std::vector<std::string> sources_;
  int S_ = 0, channels_ = 0;  // channels_ = 2 * S_ (stems in the ring)
  std::int64_t frames_ = 0, segment_ = 0, stride_ = 0, back_ = 1, capacity_ = 0, crossfade_ = 0;
  std::unique_ptr<JackPortClient> client_;
  rt::Reservation song_, ring_, scratch_;
  std::chrono::steady_clock::time_point created_;

  // Audio thread -> worker.
  std::atomic<std::uint64_t> seek_gen_{0};
  std::atomic<std::int64_t> seek_target_{0};
  std::atomic<std::int64_t> play_pos_{0};  // earliest frame the audio thread may still read
  // Worker -> audio thread: the current region (seqlock-style: gen read before and after).
  std::atomic<std::uint64_t> region_gen_{0};
  std::atomic<std::int64_t> region_begin_{0};
  std::atomic<std::int64_t> ready_end_{0};
  std::atomic<double> first_stems_s_{-1.0};
  std::atomic<std::uint64_t> regions_{0};

  // Worker state.
  std::optional<htdemucs::ChunkedSeparator> sep_;
  std::uint64_t worker_gen_ = ~std::uint64_t{0};
  std::int64_t in_cursor_ = 0, region_start_ = 0, region_target_ = 0;
  double chunk_seconds_ = 0.0;  // measured time per chunk (moving average)
  std::int64_t pending_ = 0,
               pending_done_ = 0;  // frames of the last process() and how many written

  // Audio-thread state.
  rt::ControlQueue<DeckCommand> commands_{64};
  std::vector<float> gain_db_, gain_now_;  // sized in the constructor
  std::vector<char> muted_, soloed_;
  std::uint64_t my_gen_ = 0;
  bool rolling_ = false;
  std::int64_t expected_ = 0;
  float blend_ = 0.0f;  // 0: mix, 1: stems
  std::atomic<std::uint64_t> mix_frames_{0}, applied_{0};
  std::atomic<bool> stopping_{false};
  bool active_ = false;
  std::unique_ptr<rt::WorkerThread> worker_;  // last
};

}  // namespace earshot::stems
