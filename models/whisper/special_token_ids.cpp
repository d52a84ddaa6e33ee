#include "models/whisper/special_token_ids.hpp"

#include "models/core/json_file.hpp"

#include <algorithm>

namespace earshot::models::whisper {

const std::vector<std::string_view>& whisper_language_codes() {
  static const std::vector<std::string_view> codes = {
      "en", "zh", "de", "es",  "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
      "it", "id", "hi", "fi",  "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
      "th", "ur", "hr", "bg",  "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
      "az", "sl", "kn", "et",  "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
      "gl", "mr", "pa", "si",  "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
      "am", "yi", "lo", "uz",  "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
      "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};
  return codes;
}

SpecialTokenIds SpecialTokenIds::for_vocab(int n_vocab) {
  SpecialTokenIds s;
  s.n_vocab = n_vocab;
  // openai/whisper: is_multilingual = n_vocab >= 51865,
  // num_languages = n_vocab - 51765 - is_multilingual.
  s.multilingual = n_vocab >= 51865;
  s.num_languages = n_vocab - 51765 - (s.multilingual ? 1 : 0);
  if (n_vocab < 51864 || s.num_languages > static_cast<int>(whisper_language_codes().size()))
    throw ConfigError("vocab_size " + std::to_string(n_vocab) +
                      " is not a Whisper vocabulary (expected 51864, 51865 or 51866)");
  s.eot = s.multilingual ? 50257 : 50256;  // number of text ranks: multilingual 50257, gpt2 50256
  s.sot = s.eot + 1;
  s.first_language = s.sot + 1;
  s.translate = s.first_language + s.num_languages;
  s.transcribe = s.translate + 1;
  s.sot_lm = s.translate + 2;
  s.sot_prev = s.translate + 3;
  s.no_speech = s.translate + 4;
  s.no_timestamps = s.translate + 5;
  s.timestamp_begin = s.translate + 6;
  s.timestamp_end = s.timestamp_begin + 1500;
  if (s.timestamp_end != n_vocab - 1)
    throw ConfigError("vocab_size " + std::to_string(n_vocab) + " leaves no room for timestamps");
  return s;
}

int SpecialTokenIds::language_token(std::string_view code) const {
  const auto& codes = whisper_language_codes();
  for (int i = 0; i < num_languages; ++i)
    if (codes[static_cast<std::size_t>(i)] == code) return first_language + i;
  throw ConfigError("unknown language code '" + std::string(code) + "' (this model knows " +
                    std::to_string(num_languages) + " languages, e.g. en, de, fr, zh)");
}

std::string SpecialTokenIds::language_code(int id) const {
  if (id < first_language || id >= first_language + num_languages) return {};
  return std::string(whisper_language_codes()[static_cast<std::size_t>(id - first_language)]);
}

std::vector<int> SpecialTokenIds::sot_sequence(int language_tok, bool translate_task) const {
  std::vector<int> seq{sot};
  if (multilingual) {
    seq.push_back(language_tok);
    seq.push_back(translate_task ? translate : transcribe);
  }
  return seq;
}

void SpecialTokenIds::check_generation_config(const std::filesystem::path& path) const {
  if (!std::filesystem::exists(path)) return;
  const auto j = read_json_file(path);
  const std::string where = path.string();
  auto expect = [&](const char* key, int want) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return;
    if (it->get<std::int64_t>() != want)
      throw ConfigError(where + ": " + key + " = " + std::to_string(it->get<std::int64_t>()) +
                        " but the vocabulary size " + std::to_string(n_vocab) + " implies " +
                        std::to_string(want));
  };
  expect("no_timestamps_token_id", no_timestamps);
  expect("prev_sot_token_id", sot_prev);
  expect("decoder_start_token_id", sot);
  if (auto it = j.find("lang_to_id"); it != j.end() && it->is_object()) {
    for (const auto& [name, value] : it->items()) {
      if (name.size() < 5 || !value.is_number_integer()) continue;
      const std::string code = name.substr(2, name.size() - 4);  // "<|en|>" -> "en"
      const std::int64_t wide = value.get<std::int64_t>();
      const int id = wide < 0 || wide > n_vocab ? -1 : static_cast<int>(wide);
      if (id < 0 || language_code(id) != code)
        throw ConfigError(where + ": lang_to_id maps " + name + " to " + std::to_string(wide) +
                          ", which disagrees with the vocabulary size " + std::to_string(n_vocab));
    }
  }
  if (auto it = j.find("task_to_id"); it != j.end() && it->is_object()) {
    if (it->contains("transcribe") && (*it)["transcribe"].is_number_integer() &&
        (*it)["transcribe"].get<std::int64_t>() != transcribe)
      throw ConfigError(where + ": task_to_id.transcribe disagrees with the vocabulary size");
    if (it->contains("translate") && (*it)["translate"].is_number_integer() &&
        (*it)["translate"].get<std::int64_t>() != translate)
      throw ConfigError(where + ": task_to_id.translate disagrees with the vocabulary size");
  }
}

}  // namespace earshot::models::whisper
