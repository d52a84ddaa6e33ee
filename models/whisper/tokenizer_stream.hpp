// Incremental decoding for live captions: tokens arrive one at a time and a character may be
// split across tokens (a CJK character or an emoji is often 2-4 byte tokens). push() emits
// only complete characters and holds back a trailing, still-incomplete UTF-8 sequence (at most
// 3 bytes) until the next token completes it. The concatenation of everything emitted (after
// finish()) equals Tokenizer::decode of the whole sequence with the same SpecialTokenText.
// push() allocates nothing (its buffer is sized for the longest token at construction) as long
// as `out` has room: it is fit for a worker thread that must not allocate in steady state.
#pragma once

#include <string>

#include "models/whisper/tokenizer.hpp"

namespace earshot::models::whisper {

class StreamingDecoder {
 public:
  // The tokenizer must outlive the decoder.
  explicit StreamingDecoder(const Tokenizer& tokenizer,
                            SpecialTokenText specials = SpecialTokenText::kDropAll);

  // Appends the text that token id completes (possibly nothing) to out.
  void push(int id, std::string& out);
  // End of the stream: held bytes can no longer complete, so they become U+FFFD.
  void finish(std::string& out);
  // Forget held bytes (e.g. the caption hypothesis was discarded).
  void reset() { pending_.clear(); }
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  SpecialTokenText specials_;
  std::string pending_;  // held incomplete sequence, then scratch space for push()
};

}  // namespace earshot::models::whisper
