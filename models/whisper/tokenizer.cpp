#include "models/whisper/tokenizer.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "models/whisper/bpe_pretokenize.hpp"
#include "models/whisper/tokenizer_languages.hpp"
#include "models/whisper/unicode_utf8.hpp"

namespace earshot::models::whisper {

namespace fs = std::filesystem;

Tokenizer Tokenizer::load(const fs::path& dir) {
  return load(std::vector<fs::path>{dir});
}

Tokenizer Tokenizer::load(const std::vector<fs::path>& dirs) {
  return load(locate_tokenizer_files(dirs));
}

Tokenizer Tokenizer::load(const TokenizerFiles& files) {
  TextTokenFiles text;
  std::vector<AddedToken> added;
  std::string text_source;
  std::string specials_source;
  if (!files.tokenizer_json.empty()) {
    TokenizerJsonContents contents = read_tokenizer_json(files.tokenizer_json);
    text = std::move(contents.text);
    text_source = files.tokenizer_json.string();
    if (files.specials_tokenizer_json == files.tokenizer_json) {
      added = std::move(contents.added);
      specials_source = text_source;
    }
  } else if (!files.vocab_json.empty() && !files.merges_txt.empty()) {
    text = read_vocab_and_merges(files.vocab_json, files.merges_txt);
    text_source = files.merges_txt.string();
  } else {
    throw TokenizerError("no text-token files given (vocab.json + merges.txt or tokenizer.json)");
  }
  if (specials_source.empty()) {
    if (!files.added_tokens_json.empty()) {
      added = read_added_tokens_json(files.added_tokens_json);
      specials_source = files.added_tokens_json.string();
    } else if (!files.specials_tokenizer_json.empty()) {
      added = read_tokenizer_json(files.specials_tokenizer_json).added;
      specials_source = files.specials_tokenizer_json.string();
    } else {
      throw TokenizerError("no special-token file given (added_tokens.json or tokenizer.json)");
    }
  }
  bpe::BpeModel bpe(std::move(text.token_bytes), text.merges, "'" + text_source + "'");
  return Tokenizer(std::move(bpe), std::move(added), "'" + specials_source + "'");
}

Tokenizer::Tokenizer(bpe::BpeModel bpe, std::vector<AddedToken> added,
                     const std::string& specials_file)
    : bpe_(std::move(bpe)) {
  // GPT-2's vocabulary (English-only models) holds <|endoftext|> as its last text token and
  // its added_tokens.json may leave it out.
  const bool eot_listed = std::any_of(
      added.begin(), added.end(), [](const AddedToken& t) { return t.content == "<|endoftext|>"; });
  if (const int eot = bpe_.find("<|endoftext|>"); !eot_listed && eot >= 0) {
    added.push_back({"<|endoftext|>", eot});
  }
  special_ = resolve_special_tokens(added, specials_file);

  const int text_size = bpe_.size();
  int max_id = text_size - 1;
  for (const AddedToken& t : added) max_id = std::max(max_id, t.id);
  // Each id past the text tokens needs its own added token (checked below); refusing a larger
  // id first keeps a corrupt file from allocating one string per id up to 2^30.
  if (static_cast<std::size_t>(max_id + 1 - text_size) > added.size()) {
    throw TokenizerError(specials_file + ": id " + std::to_string(max_id) +
                         " leaves ids without a token (only " + std::to_string(added.size()) +
                         " added tokens follow the " + std::to_string(text_size) + " text tokens)");
  }
  is_special_.assign(static_cast<std::size_t>(max_id) + 1, false);
  special_text_.assign(static_cast<std::size_t>(max_id + 1 - text_size), std::string());
  std::vector<bool> defined(special_text_.size(), false);
  for (const AddedToken& t : added) {
    if (t.id < text_size) {
      // An added token may re-declare a text token (GPT-2's <|endoftext|>), never change it.
      if (bpe_.bytes_of(t.id) != t.content) {
        throw TokenizerError(specials_file + ": added token " + t.content + " has id " +
                             std::to_string(t.id) + ", which is the text token \"" +
                             bpe_.bytes_of(t.id) + "\"");
      }
    } else {
      const auto slot = static_cast<std::size_t>(t.id - text_size);
      if (defined[slot] && special_text_[slot] != t.content) {
        throw TokenizerError(specials_file + ": id " + std::to_string(t.id) + " is both " +
                             special_text_[slot] + " and " + t.content);
      }
      special_text_[slot] = t.content;
      defined[slot] = true;
    }
    is_special_[static_cast<std::size_t>(t.id)] = true;
  }
  for (std::size_t slot = 0; slot < defined.size(); ++slot) {
    if (!defined[slot]) {
      throw TokenizerError(specials_file + ": id " + std::to_string(slot + text_size) +
                           " is neither a text token nor an added token");
    }
  }
  for (int id = 0; id < vocab_size(); ++id) {
    max_token_bytes_ = std::max(max_token_bytes_, token_bytes(id).size());
  }
  compute_non_speech_tokens();
}

void Tokenizer::expect_vocab_size(int model_vocab_size) const {
  if (model_vocab_size == vocab_size()) return;
  std::string hint;
  if (model_vocab_size == vocab_size() + 1) {
    hint = " (a large-v3 model needs the 100-language added_tokens.json, with <|yue|>)";
  } else if (model_vocab_size + 1 == vocab_size()) {
    hint = " (a v1/v2 model needs the 99-language added_tokens.json)";
  }
  throw TokenizerError("the tokenizer has " + std::to_string(vocab_size()) +
                       " tokens but the model has " + std::to_string(model_vocab_size) + hint);
}

void Tokenizer::check_id(int id) const {
  if (id < 0 || id >= vocab_size()) {
    throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                         std::to_string(vocab_size() - 1) + ")");
  }
}

std::string_view Tokenizer::token_bytes(int id) const {
  check_id(id);
  if (id < text_vocab_size()) return bpe_.bytes_of(id);
  return special_text_[static_cast<std::size_t>(id - text_vocab_size())];
}

double Tokenizer::timestamp_seconds(int id) const {
  if (!is_timestamp(id)) {
    throw TokenizerError("token id " + std::to_string(id) + " is not a timestamp");
  }
  return (id - special_.timestamp_begin) * kTimestampPrecisionSeconds;
}

int Tokenizer::timestamp_token(double seconds) const {
  if (!(seconds > 0.0)) return special_.timestamp_begin;  // also NaN
  const double index = std::round(seconds / kTimestampPrecisionSeconds);
  if (index >= kTimestampTokenCount - 1) return special_.timestamp_end;
  return special_.timestamp_begin + static_cast<int>(index);
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  encode(text, ids);
  return ids;
}

void Tokenizer::encode(std::string_view text, std::vector<int>& out) const {
  std::vector<std::string_view> pieces;
  bpe::pretokenize(text, pieces);
  for (std::string_view piece : pieces) bpe_.encode_piece(piece, out);
}

void Tokenizer::append_token_bytes(int id, SpecialTokenText specials, std::string& out) const {
  const std::string_view bytes = token_bytes(id);  // checks the range
  if (is_special(id)) {
    if (specials == SpecialTokenText::kDropAll) return;
    if (specials == SpecialTokenText::kDropTimestamps && is_timestamp(id)) return;
  }
  out.append(bytes);
}

std::string Tokenizer::decode(std::span<const int> ids, SpecialTokenText specials) const {
  std::string bytes;
  for (int id : ids) append_token_bytes(id, specials, bytes);
  std::string text;
  text.reserve(bytes.size());
  unicode::append_utf8_replacing_invalid(bytes, text);
  return text;
}

std::string Tokenizer::decode(std::span<const int> ids) const {
  return decode(ids, SpecialTokenText::kDropTimestamps);
}

std::string Tokenizer::decode_text(std::span<const int> ids) const {
  return decode(ids, SpecialTokenText::kDropAll);
}

std::string Tokenizer::decode_with_timestamps(std::span<const int> ids) const {
  return decode(ids, SpecialTokenText::kKeepAll);
}

int Tokenizer::language_token(std::string_view language) const {
  const auto code = language_code_from_name_or_code(language);
  if (code) {
    const auto& codes = special_.language_codes;
    const auto it = std::find(codes.begin(), codes.end(), *code);
    if (it != codes.end()) return special_.first_language() + static_cast<int>(it - codes.begin());
  }
  std::string known;
  for (const std::string& c : special_.language_codes) known += (known.empty() ? "" : " ") + c;
  throw TokenizerError("unknown language '" + std::string(language) + "' (this tokenizer has " +
                       std::to_string(special_.language_count()) + " languages: " + known + ")");
}

std::string_view Tokenizer::language_code(int language_token_id) const {
  if (!is_language_token(language_token_id)) {
    throw TokenizerError("token id " + std::to_string(language_token_id) +
                         " is not a language token");
  }
  return special_
      .language_codes[static_cast<std::size_t>(language_token_id - special_.first_language())];
}

std::vector<int> Tokenizer::sot_sequence(std::optional<std::string_view> language,
                                         std::optional<Task> task) const {
  std::vector<int> ids{special_.sot};
  if (language) ids.push_back(language_token(*language));
  if (task) ids.push_back(*task == Task::kTranslate ? special_.translate : special_.transcribe);
  return ids;
}

void Tokenizer::compute_non_speech_tokens() {
  // The reference's recipe: each symbol on its own and after a space; keep the id when it is a
  // single token, or the first token for the musical symbols (U+2640..U+267F, three bytes,
  // never one token), so that a tag like "[Music]" or "♪" cannot even start. " -" and " '"
  // are kept because they begin dialogue dashes and quotes of speaker tags.
  static constexpr std::string_view kSingleCharacterSymbols[] = {
      "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<",  "=",  ">",  "@", "[",
      "\\", "]", "^", "_", "`", "{", "|", "}", "~", "「", "」", "『", "』"};
  static constexpr std::string_view kMultiCharacterSymbols[] = {
      "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"",
      "((", "))", "(((", ")))", "[[", "]]",  "{{", "}}", "♪♪", "♪♪♪"};
  static constexpr std::string_view kMusicalSymbols[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};

  std::set<int> result{encode(" -").front(), encode(" '").front()};
  const auto add = [&](std::string_view symbol, bool first_token_is_enough) {
    std::string spaced(1, ' ');
    spaced.append(symbol);
    for (std::string_view text : {symbol, std::string_view(spaced)}) {
      const std::vector<int> ids = encode(text);
      if (ids.size() == 1 || first_token_is_enough) result.insert(ids.front());
    }
  };
  for (std::string_view s : kSingleCharacterSymbols) add(s, false);
  for (std::string_view s : kMultiCharacterSymbols) add(s, false);
  for (std::string_view s : kMusicalSymbols) add(s, true);
  non_speech_tokens_.assign(result.begin(), result.end());
}

std::vector<int> Tokenizer::suppress_tokens_default() const {
  std::set<int> ids(non_speech_tokens_.begin(), non_speech_tokens_.end());
  ids.insert({special_.transcribe, special_.translate, special_.sot, special_.sot_prev,
              special_.sot_lm, special_.no_speech});
  return {ids.begin(), ids.end()};
}

std::vector<int> Tokenizer::suppress_blank_tokens() const {
  std::vector<int> ids = encode(" ");
  ids.push_back(special_.eot);
  return ids;
}

}  // namespace earshot::models::whisper
