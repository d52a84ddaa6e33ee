// Arbitrary text and token ids against the real 99-language Whisper tokenizer (the fixture):
//   first byte even: the rest is text. encode() must not fail, every id must be a text token,
//     and decoding must give the text back exactly when it is valid UTF-8 (byte-level BPE is
//     lossless), or the text with U+FFFD repairs otherwise.
//   first byte odd: the rest is little-endian int32 ids. decode() must accept them or throw
//     TokenizerError (an id outside the vocabulary), and StreamingDecoder fed the same ids one
//     at a time must emit exactly what decode() returns.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz/fuzz_support.hpp"
#include "models/whisper/tokenizer.hpp"
#include "models/whisper/tokenizer_stream.hpp"
#include "models/whisper/unicode_utf8.hpp"

namespace {

using namespace earshot::models::whisper;

const Tokenizer& tokenizer() {
  static const Tokenizer tok =
      Tokenizer::load(earshot::fuzz::fixtures_dir() / "whisper/tokenizer/hf-multilingual-99");
  return tok;
}

void fuzz_text(std::string_view text) {
  const Tokenizer& tok = tokenizer();
  const std::vector<int> ids = tok.encode(text);
  for (int id : ids) {
    if (id < 0 || id >= tok.text_vocab_size()) __builtin_trap();  // encode made up an id
  }
  std::string repaired;
  earshot::models::whisper::unicode::append_utf8_replacing_invalid(text, repaired);
  if (tok.decode(ids) != repaired) __builtin_trap();  // not lossless
}

void fuzz_ids(std::string_view bytes) {
  const Tokenizer& tok = tokenizer();
  std::vector<int> ids(bytes.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), bytes.data(), ids.size() * 4);
  // Mostly valid ids: fold large values into the vocabulary unless the top bit asks for raw.
  for (int& id : ids) {
    if (id >= 0) id %= tok.vocab_size() + 2;  // + 2: now and then just past the end
  }
  for (SpecialTokenText mode : {SpecialTokenText::kDropAll, SpecialTokenText::kDropTimestamps,
                                SpecialTokenText::kKeepAll}) {
    std::string whole;
    bool whole_ok = true;
    try {
      whole = tok.decode(ids, mode);
    } catch (const TokenizerError&) {
      whole_ok = false;
    }
    StreamingDecoder stream(tok, mode);
    std::string streamed;
    bool stream_ok = true;
    try {
      for (int id : ids) stream.push(id, streamed);
      stream.finish(streamed);
    } catch (const TokenizerError&) {
      stream_ok = false;
    }
    if (whole_ok != stream_ok) __builtin_trap();          // one accepted what the other refused
    if (whole_ok && whole != streamed) __builtin_trap();  // the streaming contract
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();  // load once, outside the timed runs
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest = earshot::fuzz::as_chars(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    fuzz_text(rest);
  } else {
    fuzz_ids(rest);
  }
  return 0;
}
