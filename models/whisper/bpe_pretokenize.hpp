// The GPT-2 / Whisper pre-tokenizer, written by hand instead of with a regex engine:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// It splits text into pieces; BPE then runs inside each piece independently. Runs in one
// left-to-right pass (linear time, no backtracking). Bytes that are not valid UTF-8 count as
// "other" characters, one per ill-formed subpart, so any byte string splits into pieces that
// concatenate back to it exactly.
#pragma once

#include <string_view>
#include <vector>

namespace earshot::models::whisper::bpe {

// Appends the pieces of text (views into text, in order, covering it exactly) to pieces.
void pretokenize(std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace earshot::models::whisper::bpe
