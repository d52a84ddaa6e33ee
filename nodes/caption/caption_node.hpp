// The streaming caption node: Whisper over a sliding window of at most 30 s of 16 kHz audio.
//
//   push(audio) ──> window [buffer_start .. now] ──every step──> log-mel of the audio context
//   -> encoder -> greedy decode with timestamps, prompted with the committed text that has
//   left the window -> repetition loops cut -> local agreement (local_agreement.hpp) ->
//   commit / partial events -> trim the window at the end of a committed segment.
//
// Audio context: Whisper was trained on 30 s windows (1500 encoder positions), but a live
// window is usually a few seconds long. With a reduced context the encoder only runs over the
// window plus a margin of zero padding, rounded up to a multiple of kAudioCtxGranule positions
// (audio_ctx_for()); the decoder attends over just those positions, and timestamps past the
// context's end are suppressed (it never saw that audio). The encoder's cost falls about in
// proportion (more for attention), at a quality cost: the model never saw short windows in
// training, so its tokens can differ from the full-context run's.
//
// Trimming keeps the window short (cheap passes, stable hypotheses): once it is longer than
// trim_seconds, the audio of committed whole segments is dropped. Before the window could reach
// max_buffer_seconds the pending partial is committed as it is and the window is cut at its end.
//
// Latency: local agreement commits a word with the second pass that hears all of it, i.e. one
// to two steps after its end (plus the passes' cost). With early confirmation (confirm_ms), a
// step pass that leaves a partial is followed, confirm_ms into the step, by one more pass, so
// every word is confirmed within about one step plus two passes; those extra passes only run
// while the worker is idle and the passes use under confirm_max_load of the audio time.
// (Measured with a hypothesis oracle on real speech: tests/caption/caption_oracle.hpp.)
//
// With a VAD gate (vad_gate.hpp) Whisper runs only while confirmed speech is in progress, so
// silence and noise never produce text; outside speech the window keeps only a short pre-roll,
// and the end of an utterance runs a last pass and commits everything pending.
//
// Transcription goes through a WindowTranscriber (window_transcriber.hpp): Whisper
// (whisper_window_transcriber.hpp) unless another one is given; the node itself is the policy.
//
// Threading: construct and prepare() on the control thread; push()/finish() on one worker
// thread; events() is drained by one consumer thread. prepare() reserves the window, the mel,
// the encoder and decoder workspaces (KV caches) and the VAD state from the memory budget.
// Once warm (the first pass, which may detect the language), a pass allocates nothing: greedy
// decoding goes through decode_into() with a result reserved at prepare(), and every list the
// node keeps has its capacity reserved there (tests/caption/caption_allocation_test.cpp).
#pragma once

#include "models/vad/silero_weights.hpp"
#include "models/vad/speech_hysteresis.hpp"
#include "models/whisper/whisper_decoding.hpp"
#include "nodes/caption/caption_event.hpp"
#include "nodes/caption/local_agreement.hpp"
#include "nodes/caption/vad_gate.hpp"
#include "nodes/caption/window_transcriber.hpp"
#include "rt/control_queue.hpp"
#include "rt/memory_budget.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace earshot::nodes::caption {

class WhisperWindowTranscriber;

// Encoder contexts are whole multiples of this many positions (1.28 s): fewer distinct GEMM
// shapes, rows in multiples of the kernels' tiles.
inline constexpr int kAudioCtxGranule = 64;
// Zero padding past the window's end that a reduced context keeps: the model learnt to place
// the end of speech before trailing silence, and needs some to do it.
inline constexpr double kAudioCtxMarginSeconds = 1.0;

// The early confirmation for live input (CaptionOptions::confirm_ms): half a step of new audio
// at 1 s steps, so the confirming pass hears more than the pass it confirms.
inline constexpr int kLiveConfirmMs = 500;

struct CaptionOptions {
  // Encoder positions (20 ms each) per pass: kAudioCtxAuto = the window plus a margin, rounded
  // up to kAudioCtxGranule; kAudioCtxFull = always the model's full 30 s context; N > 0 = at
  // least N positions (grown to cover the window like auto).
  static constexpr int kAudioCtxAuto = -1;
  static constexpr int kAudioCtxFull = 0;
  int audio_ctx = kAudioCtxAuto;
  std::string language;  // "" = "en" for English-only models, else detected on the first pass
  bool translate = false;
  int step_ms = 1000;  // a pass per this much new audio
  // Early confirmation: when a step's pass left unconfirmed text (a partial), one more pass
  // runs this long into the step, as soon as the worker has caught up with the audio, instead
  // of a whole step later; local agreement between the two then commits the partial about a
  // step sooner, for one extra pass per step while speech goes on. 0 = off; < step_ms. Off by
  // default here (a node fed faster than real time has no latency to save, and its passes
  // would then depend on timing); `earshot caption` turns it on (kLiveConfirmMs) for live input.
  int confirm_ms = 0;
  // ... but only while the worker's busy time over the last kLoadSteps steps, this pass's
  // expected cost (the last pass's) added, stays within this fraction of their audio: the
  // early passes spend the headroom, never the capacity to keep up. > 0; 1 or more: only the
  // worker's own backlog sheds them.
  double confirm_max_load = 0.5;
  int max_tokens = 0;      // sampled per pass; 0 = n_text_ctx / 2
  int prompt_tokens = 64;  // committed text fed back as <|startofprev|> (bounded)
  double max_buffer_seconds = 30.0;
  double trim_seconds = 10.0;     // longer windows are trimmed at committed segment ends
  double min_pass_seconds = 0.3;  // no pass over less audio
  int loop_max_ngram = 8;         // repetition loops: n-grams up to this length ...
  int loop_max_repeats = 3;       // ... repeated this many times are cut
  // A pass whose no-speech probability exceeds this while its avg log-prob is below
  // logprob_threshold is silence (the reference's rule); nullopt = never.
  std::optional<double> no_speech_threshold = 0.6;
  double logprob_threshold = -1.0;
  std::size_t event_capacity = 256;
  models::vad::SpeechParams vad = caption_speech_params();
  double vad_preroll_seconds = 0.5;  // audio kept while no speech is confirmed (> min_speech + pad)

  void validate() const;  // throws std::invalid_argument naming the option
};

struct CaptionStats {
  std::uint64_t passes = 0;          // Whisper runs
  std::uint64_t confirm_passes = 0;  // of which early confirmations (confirm_ms)
  std::uint64_t confirms_shed = 0;   // early confirmations skipped: worker behind or too busy
  std::uint64_t gated_steps = 0;     // steps skipped because the VAD heard no speech
  std::uint64_t silent_passes = 0;   // passes Whisper itself judged silent
  std::uint64_t trims = 0;           // at committed segment ends
  std::uint64_t forced_trims = 0;    // before the window filled up
  std::uint64_t utterances = 0;      // VAD utterance ends that flushed a commit
  double last_utterance_end = -1.0;  // stream seconds where the VAD put the last one's end
  std::uint64_t loops_cut = 0;       // hypotheses shortened by the repetition rule
  std::uint64_t committed_tokens = 0;
  std::uint64_t dropped_events = 0;  // the consumer fell behind and the queue was full
  double audio_seconds = 0.0;        // pushed so far
  double compute_seconds = 0.0;      // wall time spent in passes
  double max_window_seconds = 0.0;
  // Where pass time goes (wall seconds, summed over passes); VAD time is spent in push().
  double mel_seconds = 0.0;
  double encoder_seconds = 0.0;
  double decode_seconds = 0.0;
  double vad_seconds = 0.0;
  std::uint64_t audio_ctx_sum = 0;  // encoder positions summed over passes (mean = / passes)
};

// "auto", "full" or a positive count of encoder positions -> CaptionOptions::audio_ctx.
int parse_audio_ctx(const std::string& text);

class CaptionNode {
 public:
  // `model` (and `vad_weights`, when given) must outlive the node. The windows are
  // transcribed by Whisper (WhisperWindowTranscriber over `model`).
  CaptionNode(const models::whisper::WhisperModel& model, CaptionOptions options,
              const models::vad::SileroWeights* vad_weights = nullptr);
  // The windows are transcribed by `transcriber` (not owned, must outlive the node; prepare()
  // prepares it); `model` still gives the token layout (timestamps, end of text) and contexts.
  CaptionNode(const models::whisper::WhisperModel& model, CaptionOptions options,
              const models::vad::SileroWeights* vad_weights, WindowTranscriber& transcriber);
  ~CaptionNode();
  CaptionNode(const CaptionNode&) = delete;
  CaptionNode& operator=(const CaptionNode&) = delete;

  // Reserves every workspace from `budget` (throws rt::BudgetExceeded naming the item).
  // `parallel` (optional, not owned, must outlive the node): threads the encoder and decoder
  // split their work over, borrowed by the worker thread during passes.
  void prepare(rt::MemoryBudget& budget, models::whisper::Parallel* parallel = nullptr);

  // Worker thread: appends 16 kHz mono audio; runs a pass whenever a step's worth has arrived.
  void push(std::span<const float> audio_16k);
  // Worker thread: end of the stream: a last pass, and everything pending is committed.
  void finish();
  // Worker thread: stream audio queued in front of the node (counted into commit latency).
  void set_backlog_seconds(double seconds) { backlog_seconds_ = seconds; }

  // Consumer thread.
  rt::ResultQueue<CaptionEvent>& events() { return *events_; }

  // Read from the worker thread, or once it has stopped.
  const CaptionStats& stats() const { return stats_; }
  const std::string& language() const { return transcriber_->language(); }
  double window_seconds() const;
  std::int64_t samples_pushed() const { return total_samples_; }
  // Encoder positions a pass over a window of this many seconds uses (after prepare()).
  int audio_ctx_for(double window_seconds) const;
  // The positions used by the last pass (0 before the first).
  int last_audio_ctx() const { return last_audio_ctx_; }
  // The last pass's decoding (sampled tokens with timestamps), for tests and diagnostics.
  const models::whisper::DecodingResult& last_decoding() const { return *last_result_; }
  // ... the options it was decoded with, and the encoder output it attended over
  // [last_audio_ctx(), d_model] (tests replay a pass's Whisper calls from these). Only with
  // the node's own Whisper transcriber (std::logic_error otherwise).
  const models::whisper::DecodingOptions& last_decoding_options() const;
  std::span<const float> last_features() const;

 private:
  // Both public constructors: `given` is the transcriber to use, or null for the node's own.
  CaptionNode(const models::whisper::WhisperModel& model, CaptionOptions options,
              const models::vad::SileroWeights* vad_weights, WindowTranscriber* given);

  void on_step();
  void on_confirm();
  bool confirm_affordable() const;
  void on_utterance_end(const VadGate::Result& r);
  // Transcribes the window; with `flush_all` the whole hypothesis is committed.
  void run_pass(bool flush_all);
  void hypothesis_from(std::span<const int> tokens);
  void trim_to(double stream_seconds);
  void emit(CaptionEventKind kind, std::span<const HypToken> tokens);
  const WhisperWindowTranscriber& own_whisper() const;
  double window_start_seconds() const;
  double window_end_seconds() const;

  const models::whisper::WhisperModel& model_;
  CaptionOptions options_;
  const models::vad::SileroWeights* vad_weights_;
  std::size_t step_samples_ = 0;

  std::unique_ptr<WhisperWindowTranscriber> whisper_;  // the node's own, unless one was given
  WindowTranscriber* transcriber_ = nullptr;
  // Reserved by prepare().
  std::optional<VadGate> vad_;
  std::unique_ptr<rt::ResultQueue<CaptionEvent>> events_;
  rt::Reservation audio_;  // 30 s window; samples past window_len_ are always zero
  std::optional<LocalAgreement> agreement_;
  std::vector<HypToken> hypothesis_;  // capacity kMaxEventTokens
  std::vector<int> ids_;              // scratch, capacity kMaxEventTokens
  std::vector<int> history_;          // committed ids that left the window, capacity prompt
  models::whisper::DecodingResult no_result_;  // last_decoding() before the first pass
  const models::whisper::DecodingResult* last_result_ = &no_result_;
  int last_audio_ctx_ = 0;

  std::size_t window_len_ = 0;      // samples in the window
  std::int64_t window_start_ = 0;   // stream sample of the window's first sample
  std::int64_t total_samples_ = 0;  // pushed so far
  std::size_t since_step_ = 0;
  std::size_t confirm_samples_ = 0;  // 0 = no early confirmation
  bool confirm_pending_ = false;     // this step's pass left a partial; not yet confirmed
  // Worker seconds spent in passes during each of the last kLoadSteps steps (a ring; the
  // current step at load_index_), and the last pass's.
  static constexpr std::size_t kLoadSteps = 10;
  std::array<double, kLoadSteps> step_busy_{};
  std::size_t load_index_ = 0;
  double last_pass_seconds_ = 0.0;
  std::uint32_t pass_index_ = 0;
  double pass_started_ = 0.0;  // steady-clock seconds of the running pass
  double backlog_seconds_ = 0.0;
  bool prepared_ = false;
  bool flushing_utterance_ = false;  // events come from an utterance end's pass
  CaptionStats stats_;
};

}  // namespace earshot::nodes::caption
