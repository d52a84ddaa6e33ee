// Cutting Whisper's repetition loops ("thank you thank you thank you ...").
//
// A decoder stuck in a loop emits the same n-gram back to back until the token limit. Such a
// run carries no information after its first occurrence, and left in place it would be
// committed and fed back as the prompt, which makes the next pass loop too.
#pragma once

#include <cstddef>
#include <span>

namespace earshot::nodes::caption {

// Length of the loop-free prefix of `ids`: the sequence is cut right after the first
// occurrence of any n-gram (1 <= n <= max_ngram) that occurs at least `max_repeats` times back
// to back. Returns ids.size() when there is no such run. Allocates nothing; O(len * max_ngram *
// max_repeats).
std::size_t loop_free_length(std::span<const int> ids, int max_ngram = 8, int max_repeats = 3);

}  // namespace earshot::nodes::caption
