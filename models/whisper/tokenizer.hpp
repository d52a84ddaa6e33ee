// The Whisper tokenizer: byte-level BPE text tokens plus Whisper's special tokens, loaded from
// Hugging Face tokenizer files (see tokenizer_files.hpp for which files and where).
//
//   auto tok = Tokenizer::load(model_dir);                      // files in the model directory
//   auto tok = Tokenizer::load({tokenizer_override, model_dir});  // `--tokenizer DIR` first
//   auto tok = Tokenizer::load({v3_dir, v2_dir});  // large-v3 dir with only added_tokens.json
//
// Behaviour follows openai/whisper's tokenizer (the reference): encode() never parses special
// tokens out of the text; decode() drops timestamp tokens and shows other specials as their
// text; decode_with_timestamps() shows every token. Bytes that do not form valid UTF-8 are
// replaced by U+FFFD, one per ill-formed subpart, as Python's errors="replace" does.
// A loaded Tokenizer is immutable: every const method may be called from any thread.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "models/whisper/bpe_model.hpp"
#include "models/whisper/tokenizer_error.hpp"
#include "models/whisper/tokenizer_files.hpp"
#include "models/whisper/tokenizer_special.hpp"

namespace earshot::models::whisper {

enum class Task { kTranscribe, kTranslate };

// Which special tokens a decode shows as text.
enum class SpecialTokenText {
  kDropAll,         // plain text only (captions)
  kDropTimestamps,  // the reference's decode()
  kKeepAll,         // the reference's decode_with_timestamps()
};

class Tokenizer {
 public:
  static Tokenizer load(const std::filesystem::path& dir);
  // Each part from the first directory that has it (locate_tokenizer_files).
  static Tokenizer load(const std::vector<std::filesystem::path>& dirs);
  static Tokenizer load(const TokenizerFiles& files);

  // Ids run 0 .. vocab_size() - 1 (51865 for 99 languages, 51866 for large-v3's 100); it must
  // equal the model's vocab_size.
  int vocab_size() const { return static_cast<int>(is_special_.size()); }
  // Text (BPE) tokens are 0 .. text_vocab_size() - 1 (50257); specials follow.
  int text_vocab_size() const { return bpe_.size(); }
  std::size_t merge_count() const { return bpe_.merge_count(); }
  // Longest token_bytes() of any id (text or special): sizes streaming buffers.
  std::size_t max_token_bytes() const { return max_token_bytes_; }
  const SpecialTokens& special() const { return special_; }

  // Throws TokenizerError naming both sizes unless the model's vocab_size (config.json) is
  // this tokenizer's: e.g. a large-v3 model (51866) given the 99-language files (51865).
  void expect_vocab_size(int model_vocab_size) const;
  // As openai/whisper decides it: vocabularies of 51865 tokens or more are multilingual; the
  // English-only (.en) models use [sot] without language and task tokens.
  bool is_multilingual() const { return vocab_size() >= 51865; }

  bool is_special(int id) const {
    return id >= 0 && id < vocab_size() && is_special_[static_cast<std::size_t>(id)];
  }
  bool is_timestamp(int id) const {
    return id >= special_.timestamp_begin && id <= special_.timestamp_end;
  }
  // Seconds of a timestamp token (<|1.00|> -> 1.0).
  double timestamp_seconds(int id) const;
  // Timestamp token for a time, rounded to the nearest 0.02 s and clamped to 0..30 s.
  int timestamp_token(double seconds) const;
  // Raw bytes of a text token, or the text ("<|en|>") of a special token. Throws
  // TokenizerError for an id outside the vocabulary.
  std::string_view token_bytes(int id) const;

  // Plain text -> ids (special-token spellings in the text are encoded as ordinary text).
  std::vector<int> encode(std::string_view text) const;
  void encode(std::string_view text, std::vector<int>& out) const;  // appends

  std::string decode(std::span<const int> ids) const;                  // drops timestamps
  std::string decode_text(std::span<const int> ids) const;             // drops every special
  std::string decode_with_timestamps(std::span<const int> ids) const;  // keeps every token
  std::string decode(std::span<const int> ids, SpecialTokenText specials) const;
  // Appends the bytes a decode with this mode shows for one id (no UTF-8 repair).
  void append_token_bytes(int id, SpecialTokenText specials, std::string& out) const;

  // Languages in token order; language_token accepts a code ("de") or a name ("German").
  std::span<const std::string> language_codes() const { return special_.language_codes; }
  int language_token(std::string_view language) const;  // throws TokenizerError if unknown
  bool is_language_token(int id) const { return id > special_.sot && id < special_.translate; }
  std::string_view language_code(int language_token_id) const;  // throws if not a language

  // [sot], [sot, language], or [sot, language, task] as the reference builds it; append
  // special().no_timestamps for a decode without timestamps.
  std::vector<int> sot_sequence(std::optional<std::string_view> language,
                                std::optional<Task> task) const;

  // The reference's non_speech_tokens (82 ids for the multilingual vocabulary): symbols and
  // bracket/music tokens suppressed so the model does not emit speaker tags or sound notes.
  const std::vector<int>& non_speech_tokens() const { return non_speech_tokens_; }
  // What the reference suppresses at every step for suppress_tokens="-1": non_speech_tokens
  // plus transcribe, translate, sot, sot_prev, sot_lm and no_speech; sorted (88 ids).
  std::vector<int> suppress_tokens_default() const;
  // Suppressed at the first sampled step (SuppressBlank): encode(" ") + [eot].
  std::vector<int> suppress_blank_tokens() const;

 private:
  Tokenizer(bpe::BpeModel bpe, std::vector<AddedToken> added, const std::string& specials_file);
  void compute_non_speech_tokens();
  void check_id(int id) const;

  bpe::BpeModel bpe_;
  SpecialTokens special_;
  std::vector<std::string> special_text_;  // index id - text_vocab_size()
  std::vector<bool> is_special_;           // by id
  std::vector<int> non_speech_tokens_;
  std::size_t max_token_bytes_ = 0;
};

}  // namespace earshot::models::whisper
