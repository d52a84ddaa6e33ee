#include "models/whisper/tokenizer_stream.hpp"

#include "models/whisper/unicode_utf8.hpp"

namespace earshot::models::whisper {

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, SpecialTokenText specials)
    : tokenizer_(&tokenizer), specials_(specials) {
  // Held bytes (at most 3) plus the longest token: push() never grows the buffer.
  pending_.reserve(tokenizer.max_token_bytes() + 4);
}

void StreamingDecoder::push(int id, std::string& out) {
  tokenizer_->append_token_bytes(id, specials_, pending_);
  // Everything up to the start of an incomplete trailing sequence is final: a UTF-8 decoder
  // never revisits bytes before a lead byte, so these bytes decode as they would in one go.
  const std::size_t held = unicode::incomplete_utf8_tail(pending_);
  const std::size_t ready = pending_.size() - held;
  unicode::append_utf8_replacing_invalid(std::string_view(pending_).substr(0, ready), out);
  pending_.erase(0, ready);
}

void StreamingDecoder::finish(std::string& out) {
  unicode::append_utf8_replacing_invalid(pending_, out);
  pending_.clear();
}

}  // namespace earshot::models::whisper
