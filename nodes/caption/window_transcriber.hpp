// What the caption node asks of a speech recogniser: the hypothesis of one window. The node
// keeps the streaming policy (when to run a pass, local agreement, trimming, VAD flushes); the
// transcriber turns the window's audio into Whisper's decoding (text tokens between timestamp
// tokens, times relative to the window's start).
//
// The production transcriber is Whisper itself (whisper_window_transcriber.hpp). The seam
// exists so the node's own latency can be measured on real speech without pretrained weights:
// a test double gives each window the text a perfect recogniser would (tests/caption/
// caption_oracle.hpp) while the node, the VAD and the timing stay the real ones.
#pragma once

#include "models/whisper/parallel.hpp"
#include "models/whisper/whisper_decoding.hpp"
#include "rt/memory_budget.hpp"

#include <cstddef>
#include <span>
#include <string>

namespace earshot::nodes::caption {

struct WindowRequest {
  // The window buffer (30 s): the first `window_len` samples are audio, the rest are zeros.
  std::span<const float> audio;
  std::size_t window_len = 0;
  double start_seconds = 0.0;   // stream time of audio[0]
  int n_ctx = 0;                // encoder positions (20 ms each) to run over
  int sample_len = 0;           // most tokens to sample
  std::span<const int> prompt;  // committed tokens that left the window, oldest first
};

// Where a pass's time went (wall seconds), added to CaptionStats by the node.
struct PassTimes {
  double mel_seconds = 0.0;
  double encoder_seconds = 0.0;
  double decode_seconds = 0.0;
};

class WindowTranscriber {
 public:
  virtual ~WindowTranscriber() = default;

  // Control thread, once, from CaptionNode::prepare(): reserve every workspace from `budget`.
  // `parallel` (may be null) is the team the node was given.
  virtual void prepare(rt::MemoryBudget& budget, models::whisper::Parallel* parallel) = 0;

  // Worker thread: the decoding of the window (sampled tokens without EOT; timestamps count
  // from the window's start; no_speech_prob and avg_logprob as Whisper's). The reference stays
  // valid until the next call. Must not allocate once warm (the node's steady state).
  virtual const models::whisper::DecodingResult& transcribe(const WindowRequest& request,
                                                            PassTimes& times) = 0;

  // The language decoded in ("" until known).
  virtual const std::string& language() const = 0;
};

}  // namespace earshot::nodes::caption
