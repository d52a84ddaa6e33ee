// Shared helpers of the caption tests: the fixture model, audio, and event collection.
#pragma once

#include "dsp/audio_file.hpp"
#include "models/whisper/whisper_weights.hpp"
#include "nodes/caption/caption_node.hpp"
#include "rt/memory_budget.hpp"
#include "tests/test_support.hpp"

#include <memory>
#include <vector>

namespace earshot::nodes::caption::testing {

inline std::vector<float> fixture_speech(const std::string& relative = "audio/speech_16k.wav") {
  return dsp::read_audio_mono_16k(earshot::test::fixture(relative)).samples;
}

// Small passes keep the suite fast under ASan: English fixed (no language detection), at most
// 16 tokens per pass.
inline CaptionOptions fast_options() {
  CaptionOptions o;
  o.language = "en";
  o.max_tokens = 16;
  return o;
}

struct Collected {
  std::vector<int> committed;  // all committed ids in order
  std::vector<CaptionEvent> events;
};

inline void drain(CaptionNode& node, Collected& c) {
  CaptionEvent e;
  while (node.events().try_dequeue(e)) {
    if (e.kind == CaptionEventKind::kCommit)
      c.committed.insert(c.committed.end(), e.tokens, e.tokens + e.n_tokens);
    c.events.push_back(e);
  }
}

}  // namespace earshot::nodes::caption::testing
