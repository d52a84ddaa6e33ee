// The one exception type of the Whisper tokenizer: missing or corrupt tokenizer files,
// unknown languages, token ids out of range. Messages name the file (or the id) at fault.
#pragma once

#include <stdexcept>

namespace earshot::models::whisper {

class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace earshot::models::whisper
