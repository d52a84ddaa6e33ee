// Live mixer commands for the deck, one per line (stdin in `earshot deck`):
//   gain <source> <dB>     e.g. `gain vocals -6` (0 = unity; -inf..+12 dB)
//   mute <source>          silence one stem          unmute <source>
//   solo <source>          only soloed stems play    unsolo <source>
//   reset                  every stem back to 0 dB, unmuted, no solo
// <source> is a model source name (drums, bass, other, vocals, guitar, piano) or `all`.
// Parsing happens on the control thread; the audio thread receives a trivially copyable
// DeckCommand through a preallocated control queue.
#pragma once

#include <string>
#include <vector>

namespace earshot::stems {

struct DeckCommand {
  enum class Op : int { Gain, Mute, Unmute, Solo, Unsolo, Reset };
  Op op = Op::Reset;
  int source = -1;  // index into the model's sources; -1: all
  float gain_db = 0.0f;
};

// Parses one line. Throws std::invalid_argument with a message naming what is wrong.
DeckCommand parse_deck_command(const std::string& line, const std::vector<std::string>& sources);

}  // namespace earshot::stems
