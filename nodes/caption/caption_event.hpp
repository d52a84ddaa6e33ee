// What the caption node tells the outside world, one fixed-size message per event, so the
// worker hands events over through a preallocated rt::ResultQueue without allocating.
//
// Events carry token ids, not text: turning ids into UTF-8 (which allocates) is the consumer's
// job, off the worker thread (see caption_text.hpp).
#pragma once

#include <cstdint>

namespace earshot::nodes::caption {

// Whisper samples at most n_text_ctx / 2 = 224 tokens per window, so no hypothesis is longer.
inline constexpr int kMaxEventTokens = 224;

enum class CaptionEventKind : std::uint8_t {
  kPartial,  // the current guess after the committed text; replaces the previous partial
  kCommit,   // final text, appended after everything committed before
};

struct CaptionEvent {
  CaptionEventKind kind = CaptionEventKind::kPartial;
  std::uint32_t step = 0;  // transcription pass that produced it
  double start = 0.0;      // stream seconds of the first token's audio
  double end = 0.0;        // stream seconds where the tokens' audio ends
  // Latency of a commit: stream seconds from `end` to the moment the text existed, i.e. the
  // audio the pass had waited for past `end`, plus the audio still queued in front of the
  // worker, plus the pass's own compute time (see CaptionNode::set_backlog_seconds).
  double latency = 0.0;
  // The pass ran because the VAD heard an utterance end (its commits flush what was pending).
  bool utterance_end = false;
  int n_tokens = 0;
  int tokens[kMaxEventTokens] = {};
  // Commits: how long before `end` each token's audio ended (seconds, >= 0), so token i's
  // latency is latency + ends_before[i].
  float ends_before[kMaxEventTokens] = {};
};

}  // namespace earshot::nodes::caption
