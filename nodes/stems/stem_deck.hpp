// `earshot deck FILE --jack`: plays a file as a JACK client with its stems separated AHEAD of
// the playhead, so they come out in sync with zero added latency.
//
// Ports (outputs only): master_L/_R, then <source>_L/_R per model source.
//
//   mix reader:  disk ──SongReader (JACK rate)──► mix ring [song frame % K]
//   separator:   disk ──SongReader (model rate)──► ChunkedSeparator ──(resample to the JACK
//                rate if it differs)──► stems ring [song frame % K]
//   JACK:        transport frame f ──► stems[f] (× gain) or, before they are ready, mix[f]
//
// Memory is bounded by the look-ahead, not the song: the file is streamed from disk (libsndfile,
// seek on locate) by two worker threads, and only two preallocated windows of K frames (default
// 30 s) around the playhead are held: the mix and the stems. A 1-hour file plays in the same
// memory as a 1-minute one. Song frames are counted at the JACK server's rate.
//
// Transport: the deck follows JACK transport. Stopped: silence (the workers keep reading and
// separating ahead). Rolling: output frame i of a cycle is song frame pos.frame + i. The deck
// is a slow-sync client (jack_set_sync_callback): when the transport starts or is moved, it
// asks the mix reader to seek there and tells JACK it is ready only once the mix at the new
// position is in memory, so the transport never rolls over a frame the deck cannot play (if
// another client forces a roll anyway, e.g. after JACK's sync timeout, the missing frames are
// silent and counted in gap_frames()).
//
// A jump (locate) outside what the separator has ready or is about to reach starts a new
// region: it re-separates from the chunk grid of the whole song, `back` chunks before the new
// position (back = ceil((L - stride) / stride), 1 at overlap 0.25), so every frame from the new
// position on gets contributions from exactly the chunks of the offline separation: at the
// model's rate the stems equal the offline stems of the whole file (except where a chunk would
// start less than half a padding before the song's end, which demucs pads with context the
// region lacks). Until the stems of the new position are ready, master plays the full mix and
// the stem outputs are silent; then master crossfades (`crossfade` frames, linear) to the sum
// of the gained stems and the stem outputs fade in. A start or jump that lands on frames
// already separated switches to stems at once. A new region aims ahead of the jump by the
// measured time its first stems take, so a worker with headroom meets the playhead.
//
// Sample rates: the model separates at its rate (44.1 kHz); a server at another rate (48 kHz)
// gets the mix read straight at its rate and the stems resampled to it (libsoxr HQ) on the
// worker. The resampler starts on a frame where both rates meet (a multiple of
// rate / gcd(rates)), fed with silence up to the region start, so its phase is that of a
// resampling of the whole song; its delay costs nothing here (the stems are ahead).
//
// Mixer: per-stem gain (dB), mute, solo through a control queue (DeckCommand, see
// deck_command.hpp). Gains move linearly over one period (no clicks).
//
// The audio thread only reads the two windows and drains the control queue: no allocation,
// lock, wait or I/O. A new region re-creates the separator on the worker (its reservations go
// back to the budget first): allocation on the worker, never on the audio thread.
#pragma once

#include "dsp/resampler.hpp"
#include "models/htdemucs/separator.hpp"
#include "nodes/stems/deck_command.hpp"
#include "nodes/stems/song_reader.hpp"
#include "rt/backends/jack_backend.hpp"
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
  std::int64_t segment = 0;  // model frames per chunk; 0: the model's training length
  double overlap = 0.25;
  double lookahead_seconds = 30.0;  // the windows of mix and stems (at least 2 segments)
  std::int64_t crossfade = 2048;    // JACK frames from mix to stems
};

class StemDeck : private rt::AudioProcessor, private rt::JackTransportSync {
 public:
  // Opens `path` (twice: the mix reader and the separator's), the JACK client, reserves the
  // two windows and the separator from `budget`, and starts reading and separating from
  // frame 0. Throws dsp::AudioFileError, rt::BackendError, std::invalid_argument.
  StemDeck(htdemucs::ModelBag& bag, const std::string& path, const DeckOptions& options,
           rt::MemoryBudget& budget);
  ~StemDeck() override;

  void start();
  void stop();

  // Control thread: queue a mixer command (false when the queue is full).
  bool send(const DeckCommand& command) { return commands_.try_enqueue(command); }
  // Parses and queues one text command (throws std::invalid_argument on a bad line).
  void send(const std::string& line);

  const rt::JackBackend& client() const { return *client_; }
  const std::vector<std::string>& sources() const { return sources_; }
  int rate() const { return rate_; }              // the JACK server's
  int model_rate() const { return model_rate_; }  // the model's
  bool resampling() const { return rate_ != model_rate_; }
  std::int64_t song_frames() const { return frames_; }  // at rate()
  std::int64_t segment() const { return segment_; }     // model frames
  std::int64_t stride() const { return stride_; }       // model frames
  std::int64_t lookahead() const { return capacity_; }  // frames at rate()

  // Seconds from construction to the first stems of the first region (negative until then).
  double time_to_first_stems() const { return first_stems_s_.load(std::memory_order_acquire); }
  // Stems ready for song frames [region_begin, ready_end) of the current region.
  std::int64_t ready_end() const { return ready_end_.load(std::memory_order_acquire); }
  // Mix read for song frames up to mix_end() of the reader's current window.
  std::int64_t mix_end() const { return mix_end_.load(std::memory_order_acquire); }
  std::uint64_t regions_started() const { return regions_.load(std::memory_order_relaxed); }
  std::uint64_t mix_seeks() const { return mix_seeks_.load(std::memory_order_relaxed); }
  // Frames played from the mix because their stems were not ready yet.
  std::uint64_t mix_frames() const { return mix_frames_.load(std::memory_order_relaxed); }
  // Frames played as silence because the transport rolled before their mix was read.
  std::uint64_t gap_frames() const { return gap_frames_.load(std::memory_order_relaxed); }
  std::uint64_t commands_applied() const { return applied_.load(std::memory_order_relaxed); }
  bool server_gone() const { return client_->failed(); }
  // "the JACK server shut down (reason)"; empty while the server is there.
  std::string shutdown_message() const { return client_->finish_message(); }
  void rethrow_if_failed() const {
    worker_->rethrow_if_failed();
    reader_->rethrow_if_failed();
  }

 private:
  void process(const float* const* in, float* const* out, std::uint32_t frames) noexcept override;
  int ready_to_roll(jack_transport_state_t state, jack_position_t* pos) noexcept override;
  void apply(const DeckCommand& command) noexcept;  // audio thread
  bool stems_ready(std::int64_t first, std::int64_t frames) const noexcept;
  bool mix_ready(std::int64_t first, std::int64_t frames) const noexcept;
  void on_position(std::int64_t frame) noexcept;      // audio thread: a start or a jump
  void request_region(std::int64_t frame) noexcept;   // audio thread
  void request_mix(std::int64_t frame) noexcept;      // audio thread
  void work();                                        // separator thread
  void begin_region(std::uint64_t gen);               // separator thread
  void stage_stems(std::int64_t frames, bool zeros);  // separator: model-rate stems -> pending
  bool write_pending();                               // separator: false when the ring is full
  void read_mix();                                    // mix reader thread

  htdemucs::ModelBag& bag_;
  rt::MemoryBudget& budget_;
  htdemucs::SeparatorOptions sep_options_;
  std::vector<std::string> sources_;
  int S_ = 0, channels_ = 0;  // channels_ = 2 * S_ (stems in the ring)
  int rate_ = 0, model_rate_ = 0;
  std::int64_t step_jack_ = 1, step_model_ = 1;  // rates / gcd: frames where they meet
  std::int64_t frames_ = 0, model_frames_ = 0, segment_ = 0, stride_ = 0, back_ = 1;
  std::int64_t capacity_ = 0, crossfade_ = 0, period_ = 0;
  std::unique_ptr<rt::JackBackend> client_;
  rt::Reservation ring_, mix_, stage_, pending_, sep_in_, mix_in_;
  std::int64_t pending_capacity_ = 0;
  std::chrono::steady_clock::time_point created_;

  // Audio thread -> workers.
  std::atomic<std::uint64_t> seek_gen_{0}, mix_seek_gen_{0};
  std::atomic<std::int64_t> seek_target_{0}, mix_seek_target_{0};
  std::atomic<std::int64_t> play_pos_{0};  // earliest frame the audio thread may still read
  // Workers -> audio thread: the current windows (seqlock-style: gen read before and after).
  std::atomic<std::uint64_t> region_gen_{0}, mix_gen_{0};
  std::atomic<std::int64_t> region_begin_{0}, ready_end_{0};
  std::atomic<std::int64_t> mix_begin_{0}, mix_end_{0};
  std::atomic<double> first_stems_s_{-1.0};
  std::atomic<std::uint64_t> regions_{0}, mix_seeks_{0};

  // Separator thread state.
  std::unique_ptr<SongReader> sep_reader_;
  std::optional<htdemucs::ChunkedSeparator> sep_;
  std::unique_ptr<dsp::Resampler> stem_resampler_;  // model -> JACK rate, when they differ
  std::uint64_t worker_gen_ = ~std::uint64_t{0};
  std::int64_t in_cursor_ = 0, region_start_ = 0, region_target_ = 0;
  std::int64_t zeros_left_ = 0;  // silence fed to the resampler before the region start
  bool flushed_ = false;
  double chunk_seconds_ = 0.0;  // measured time per chunk (moving average)
  std::int64_t pending_start_ = 0, pending_count_ = 0, pending_done_ = 0;  // JACK-rate stems
  std::int64_t stems_cursor_ = 0;  // JACK frame of the next stem frame staged
  bool pending_zero_ = false;      // the pending frames are the silent tail after the song

  // Mix reader thread state.
  std::unique_ptr<SongReader> mix_reader_;
  std::uint64_t mix_worker_gen_ = ~std::uint64_t{0};
  std::int64_t mix_cursor_ = 0;

  // Audio-thread state.
  rt::ControlQueue<DeckCommand> commands_{64};
  std::vector<float> gain_db_, gain_now_;  // sized in the constructor
  std::vector<char> muted_, soloed_;
  std::uint64_t my_gen_ = 0, my_mix_gen_ = 0;
  bool rolling_ = false;
  std::int64_t expected_ = 0;
  float blend_ = 0.0f;  // 0: mix, 1: stems
  std::atomic<std::uint64_t> mix_frames_{0}, gap_frames_{0}, applied_{0};
  std::atomic<bool> stopping_{false};
  bool active_ = false;
  std::unique_ptr<rt::WorkerThread> reader_;  // last two: their threads see every member above
  std::unique_ptr<rt::WorkerThread> worker_;
};

}  // namespace earshot::stems
