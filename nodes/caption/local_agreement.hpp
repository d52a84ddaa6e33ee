// Local agreement (the LocalAgreement-2 policy of streaming Whisper): the sliding window is
// transcribed again at every step, and only the tokens on which two consecutive hypotheses
// agree are committed; whatever follows is shown as a partial guess.
//
//   step k   hypothesis:  [committed in buffer] [A B C D]      previous partial: [A B X]
//                                              ^^^ agreed: A B committed, partial = C D
//
// Each hypothesis covers the whole buffer, so it starts with text that was committed earlier
// and whose audio is still in the buffer. That prefix is recognised by token ids when the model
// repeats it exactly, else by time (tokens whose audio lies before the end of the committed
// text are skipped). Tokens carry stream times from Whisper's timestamps, and whether they close
// a timestamped segment: the buffer can then be trimmed at the end of a committed segment.
//
// Pure bookkeeping: no model, no audio. Every vector is reserved in the constructor and never
// grows past it, so update() allocates nothing.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace earshot::nodes::caption {

struct HypToken {
  int id = 0;
  double start = 0.0;  // stream seconds
  double end = 0.0;
  bool ends_segment = false;  // last text token before a closing timestamp
};

class LocalAgreement {
 public:
  // capacity: the longest hypothesis (tokens) that update() will be given.
  explicit LocalAgreement(std::size_t capacity);

  struct Update {
    std::span<const HypToken> committed;  // newly committed, in order
    std::span<const HypToken> partial;    // the rest of this hypothesis
  };
  // Feeds the hypothesis of the current buffer. The spans stay valid until the next call.
  Update update(std::span<const HypToken> hypothesis);

  // Commits the current partial as it is (end of an utterance, or a forced trim).
  std::span<const HypToken> flush();

  // The buffer now starts at `time`: committed tokens whose audio ended by then leave the
  // buffer. Returns them (valid until the next call), for the prompt history.
  std::span<const HypToken> trim(double time);

  // Forgets everything in the buffer (after an utterance was flushed and its audio dropped).
  void reset();

  // End of the last committed segment still in the buffer (-1 when none), where trimming keeps
  // the remaining audio aligned with whole sentences.
  double committed_segment_end() const { return committed_segment_end_; }
  // End of the last committed token (-1 before the first commit).
  double committed_end() const { return committed_end_; }
  std::span<const HypToken> committed_in_buffer() const { return in_buffer_; }
  std::span<const HypToken> partial() const { return partial_; }

 private:
  std::size_t committed_prefix(std::span<const HypToken> hypothesis) const;
  void commit(std::span<const HypToken> tokens);

  std::size_t capacity_;
  std::vector<HypToken> in_buffer_;  // committed, audio still in the buffer
  std::vector<HypToken> partial_;    // previous hypothesis' uncommitted tail
  std::vector<HypToken> committed_;  // output of the last update()/flush()
  std::vector<HypToken> agreed_;     // update() scratch
  std::vector<HypToken> removed_;    // output of the last trim()
  double committed_end_ = -1.0;
  double committed_segment_end_ = -1.0;
};

}  // namespace earshot::nodes::caption
