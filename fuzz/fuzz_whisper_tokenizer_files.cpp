// Feeds arbitrary bytes to the Whisper tokenizer file readers (vocab.json, merges.txt,
// added_tokens.json, tokenizer.json) and to Tokenizer::load over them: each must accept the
// files or throw TokenizerError. The first byte picks the reader; NUL bytes separate the files
// of readers that take several.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.hpp"
#include "models/whisper/tokenizer.hpp"

namespace {

using namespace earshot::models::whisper;
using earshot::fuzz::split_parts;
using earshot::fuzz::write_scratch;

// A loaded tokenizer must serve every id it claims to have.
void exercise(const Tokenizer& tok) {
  std::vector<int> ids = tok.encode("Hello world, \xc3\xa9t\xc3\xa9 \xe4\xb8\xad 123!");
  for (int id = 0; id < tok.vocab_size() && id < 2048; ++id) ids.push_back(id);
  ids.push_back(tok.vocab_size() - 1);
  (void)tok.decode(ids);
  (void)tok.decode_with_timestamps(ids);
  (void)tok.sot_sequence(std::nullopt, std::nullopt);
  (void)tok.suppress_tokens_default();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input = earshot::fuzz::as_chars(data + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: {
        const auto parts = split_parts(input, 2);
        (void)read_vocab_and_merges(write_scratch("vocab.json", parts[0]),
                                    write_scratch("merges.txt", parts[1]));
        break;
      }
      case 1:
        (void)read_added_tokens_json(write_scratch("added_tokens.json", input));
        break;
      case 2:
        (void)read_tokenizer_json(write_scratch("tokenizer.json", input));
        break;
      case 3: {
        const auto parts = split_parts(input, 3);
        TokenizerFiles files;
        files.vocab_json = write_scratch("vocab.json", parts[0]);
        files.merges_txt = write_scratch("merges.txt", parts[1]);
        files.added_tokens_json = write_scratch("added_tokens.json", parts[2]);
        exercise(Tokenizer::load(files));
        break;
      }
      default: {
        TokenizerFiles files;
        files.tokenizer_json = write_scratch("tokenizer.json", input);
        files.specials_tokenizer_json = files.tokenizer_json;
        exercise(Tokenizer::load(files));
        break;
      }
    }
  } catch (const TokenizerError&) {
  }
  return 0;
}
