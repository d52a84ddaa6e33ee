#include "models/whisper/tokenizer_files.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "models/core/json_file.hpp"
#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/tokenizer_error.hpp"

namespace earshot::models::whisper {

namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& path) {
  // Built with append: GCC 12 warns falsely (-Wrestrict) on "'" + std::string.
  std::string out(1, '\'');
  out.append(path.string()).push_back('\'');
  return out;
}

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

nlohmann::json parse_json(const fs::path& path) {
  try {
    return read_json_file(path);
  } catch (const ConfigError& e) {
    throw TokenizerError(std::string("tokenizer file ") + e.what());
  }
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError("cannot open tokenizer file " + quoted(path));
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// Byte-level spelling -> id, plus token_bytes[id]; checks the ids are exactly 0..n-1.
struct ParsedVocab {
  std::unordered_map<std::string, int> id_of_spelling;
  std::vector<std::string> token_bytes;
};

ParsedVocab parse_vocab(const nlohmann::json& vocab, const fs::path& file) {
  if (!vocab.is_object() || vocab.empty()) {
    throw TokenizerError(quoted(file) + ": the vocabulary is not a non-empty JSON object");
  }
  ParsedVocab out;
  out.id_of_spelling.reserve(vocab.size());
  out.token_bytes.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [spelling, value] : vocab.items()) {
    if (!value.is_number_integer()) {
      throw TokenizerError(quoted(file) + ": the id of token \"" + spelling +
                           "\" is not an integer");
    }
    const auto id = value.get<long long>();
    if (id < 0 || id >= static_cast<long long>(vocab.size())) {
      throw TokenizerError(quoted(file) + ": token \"" + spelling + "\" has id " +
                           std::to_string(id) + ", outside 0.." + std::to_string(vocab.size() - 1) +
                           " (ids must be contiguous)");
    }
    if (seen[static_cast<std::size_t>(id)]) {
      throw TokenizerError(quoted(file) + ": id " + std::to_string(id) + " is used twice");
    }
    seen[static_cast<std::size_t>(id)] = true;
    auto bytes = bpe::byte_level_to_bytes(spelling);
    if (!bytes) {
      throw TokenizerError(quoted(file) + ": token \"" + spelling +
                           "\" is not spelled in the byte-level alphabet");
    }
    out.token_bytes[static_cast<std::size_t>(id)] = std::move(*bytes);
    out.id_of_spelling.emplace(spelling, static_cast<int>(id));
  }
  return out;
}

int merge_part_id(const ParsedVocab& vocab, std::string_view part, const fs::path& file,
                  std::size_t index) {
  const auto it = vocab.id_of_spelling.find(std::string(part));
  if (it == vocab.id_of_spelling.end()) {
    throw TokenizerError(quoted(file) + ": merge " + std::to_string(index) + " uses \"" +
                         std::string(part) + "\", which is not in the vocabulary");
  }
  return it->second;
}

// One "left right" merge line (byte-level spellings never contain a space).
std::pair<int, int> parse_merge_line(const ParsedVocab& vocab, std::string_view line,
                                     const fs::path& file, std::size_t index) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 >= line.size() ||
      line.find(' ', space + 1) != std::string_view::npos) {
    throw TokenizerError(quoted(file) + ": merge " + std::to_string(index) + " (\"" +
                         std::string(line) + "\") is not two tokens separated by one space");
  }
  return {merge_part_id(vocab, line.substr(0, space), file, index),
          merge_part_id(vocab, line.substr(space + 1), file, index)};
}

std::vector<AddedToken> parse_added_object(const nlohmann::json& object, const fs::path& file) {
  if (!object.is_object()) throw TokenizerError(quoted(file) + ": not a JSON object");
  std::vector<AddedToken> out;
  out.reserve(object.size());
  for (const auto& [content, value] : object.items()) {
    if (!value.is_number_integer() || value.get<long long>() < 0 ||
        value.get<long long>() > (1 << 30)) {
      throw TokenizerError(quoted(file) + ": token \"" + content + "\" has no valid id");
    }
    out.push_back({content, value.get<int>()});
  }
  return out;
}

}  // namespace

TokenizerFiles locate_tokenizer_files(const std::vector<fs::path>& dirs) {
  if (dirs.empty()) throw TokenizerError("no tokenizer directory given");
  TokenizerFiles files;
  bool have_text = false;
  bool have_specials = false;
  std::string searched;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      throw TokenizerError("tokenizer directory " + quoted(dir) + " does not exist");
    }
    searched += (searched.empty() ? "" : ", ") + quoted(dir);
    const fs::path vocab = dir / "vocab.json";
    const fs::path merges = dir / "merges.txt";
    const fs::path tokenizer_json = dir / "tokenizer.json";
    const fs::path added = dir / "added_tokens.json";
    const bool has_vocab = is_file(vocab);
    const bool has_merges = is_file(merges);
    const bool has_tokenizer_json = is_file(tokenizer_json);
    if (has_vocab != has_merges && !has_tokenizer_json) {
      throw TokenizerError(
          "tokenizer directory " + quoted(dir) + " has " +
          (has_vocab ? "vocab.json but no merges.txt" : "merges.txt but no vocab.json"));
    }
    if (!have_text && has_vocab && has_merges) {
      files.vocab_json = vocab;
      files.merges_txt = merges;
      have_text = true;
    } else if (!have_text && has_tokenizer_json) {
      files.tokenizer_json = tokenizer_json;
      have_text = true;
    }
    if (!have_specials && is_file(added)) {
      files.added_tokens_json = added;
      have_specials = true;
    } else if (!have_specials && has_tokenizer_json) {
      files.specials_tokenizer_json = tokenizer_json;
      have_specials = true;
    }
  }
  if (!have_text) {
    throw TokenizerError("no vocab.json + merges.txt or tokenizer.json in " + searched +
                         " (for a large-v3 directory holding only added_tokens.json, also give a "
                         "directory with the 99-language vocab.json + merges.txt)");
  }
  if (!have_specials) {
    throw TokenizerError("no added_tokens.json or tokenizer.json (the special tokens) in " +
                         searched);
  }
  return files;
}

TextTokenFiles read_vocab_and_merges(const fs::path& vocab_json, const fs::path& merges_txt) {
  ParsedVocab vocab = parse_vocab(parse_json(vocab_json), vocab_json);
  const std::string text = read_text_file(merges_txt);

  TextTokenFiles out;
  out.merges.reserve(vocab.token_bytes.size());
  std::size_t pos = 0;
  bool first_line = true;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool header = first_line && line.starts_with("#version");
    first_line = false;
    if (header || line.empty()) continue;
    out.merges.push_back(parse_merge_line(vocab, line, merges_txt, out.merges.size()));
  }
  if (out.merges.empty()) throw TokenizerError(quoted(merges_txt) + ": holds no merges");
  out.token_bytes = std::move(vocab.token_bytes);
  return out;
}

std::vector<AddedToken> read_added_tokens_json(const fs::path& added_tokens_json) {
  return parse_added_object(parse_json(added_tokens_json), added_tokens_json);
}

TokenizerJsonContents read_tokenizer_json(const fs::path& tokenizer_json) {
  const nlohmann::json doc = parse_json(tokenizer_json);
  const auto model = doc.find("model");
  if (!doc.is_object() || model == doc.end() || !model->is_object()) {
    throw TokenizerError(quoted(tokenizer_json) + ": no \"model\" object");
  }
  if (const auto type = model->find("type");
      type != model->end() && !(type->is_string() && *type == "BPE")) {
    throw TokenizerError(quoted(tokenizer_json) + ": model type is not \"BPE\"");
  }
  const auto vocab_it = model->find("vocab");
  const auto merges_it = model->find("merges");
  if (vocab_it == model->end() || merges_it == model->end() || !merges_it->is_array()) {
    throw TokenizerError(quoted(tokenizer_json) + ": model has no \"vocab\" or \"merges\"");
  }

  ParsedVocab vocab = parse_vocab(*vocab_it, tokenizer_json);
  TokenizerJsonContents out;
  out.text.merges.reserve(merges_it->size());
  for (const nlohmann::json& merge : *merges_it) {
    const std::size_t index = out.text.merges.size();
    if (merge.is_string()) {
      out.text.merges.push_back(
          parse_merge_line(vocab, merge.get_ref<const std::string&>(), tokenizer_json, index));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      out.text.merges.emplace_back(
          merge_part_id(vocab, merge[0].get_ref<const std::string&>(), tokenizer_json, index),
          merge_part_id(vocab, merge[1].get_ref<const std::string&>(), tokenizer_json, index));
    } else {
      throw TokenizerError(quoted(tokenizer_json) + ": merge " + std::to_string(index) +
                           " is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  if (out.text.merges.empty()) throw TokenizerError(quoted(tokenizer_json) + ": holds no merges");
  out.text.token_bytes = std::move(vocab.token_bytes);

  if (const auto added = doc.find("added_tokens"); added != doc.end()) {
    if (!added->is_array()) {
      throw TokenizerError(quoted(tokenizer_json) + ": \"added_tokens\" is not a list");
    }
    for (const nlohmann::json& entry : *added) {
      const auto id = entry.find("id");
      const auto content = entry.find("content");
      if (!entry.is_object() || id == entry.end() || content == entry.end() ||
          !id->is_number_integer() || !content->is_string() || id->get<long long>() < 0 ||
          id->get<long long>() > (1 << 30)) {
        throw TokenizerError(quoted(tokenizer_json) + ": an added token lacks a valid id/content");
      }
      out.added.push_back({content->get<std::string>(), id->get<int>()});
    }
  }
  return out;
}

}  // namespace earshot::models::whisper
