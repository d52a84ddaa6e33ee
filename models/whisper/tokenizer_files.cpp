#include "models/whisper/tokenizer_files.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "models/core/json_file.hpp"
#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/tokenizer_error.hpp"
#include "models/whisper/tokenizer_json_sax.hpp"

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

// token_bytes[id] from (bytes, id) entries; the ids must be exactly 0..n-1.
std::vector<std::string> place_vocab(std::vector<std::pair<std::string, long long>>& entries,
                                     const fs::path& file) {
  if (entries.empty()) {
    throw TokenizerError(quoted(file) + ": the vocabulary is not a non-empty JSON object");
  }
  const auto n = static_cast<long long>(entries.size());
  std::vector<std::string> token_bytes(entries.size());
  std::vector<bool> seen(entries.size(), false);
  for (auto& [bytes, id] : entries) {
    if (id < 0 || id >= n) {
      throw TokenizerError(quoted(file) + ": token \"" + bpe::bytes_to_byte_level(bytes) +
                           "\" has id " + std::to_string(id) + ", outside 0.." +
                           std::to_string(n - 1) + " (ids must be contiguous)");
    }
    if (seen[static_cast<std::size_t>(id)]) {
      throw TokenizerError(quoted(file) + ": id " + std::to_string(id) + " is used twice");
    }
    seen[static_cast<std::size_t>(id)] = true;
    token_bytes[static_cast<std::size_t>(id)] = std::move(bytes);
  }
  return token_bytes;
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
  BpeJsonContents vocab = read_bpe_json(vocab_json, BpeJsonLayout::kVocabJson);
  TextTokenFiles out;
  out.token_bytes = place_vocab(vocab.vocab, vocab_json);

  const std::string text = read_text_file(merges_txt);
  out.merges.reserve(out.token_bytes.size());
  std::string left;
  std::string right;
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
    if (!split_merge_spelling(line, left, right)) {
      throw TokenizerError(quoted(merges_txt) + ": merge " + std::to_string(out.merges.size()) +
                           " (\"" + std::string(line) +
                           "\") is not two byte-level tokens separated by one space");
    }
    out.merges.emplace_back(std::move(left), std::move(right));
  }
  if (out.merges.empty()) throw TokenizerError(quoted(merges_txt) + ": holds no merges");
  return out;
}

std::vector<AddedToken> read_added_tokens_json(const fs::path& added_tokens_json) {
  return parse_added_object(parse_json(added_tokens_json), added_tokens_json);
}

TokenizerJsonContents read_tokenizer_json(const fs::path& tokenizer_json) {
  BpeJsonContents contents = read_bpe_json(tokenizer_json, BpeJsonLayout::kTokenizerJson);
  if (!contents.has_model) {
    throw TokenizerError(quoted(tokenizer_json) + ": no \"model\" object");
  }
  if (!contents.model_type.empty() && contents.model_type != "BPE") {
    throw TokenizerError(quoted(tokenizer_json) + ": model type is \"" + contents.model_type +
                         "\", not \"BPE\"");
  }
  if (!contents.has_vocab || !contents.has_merges) {
    throw TokenizerError(quoted(tokenizer_json) + ": model has no \"vocab\" or \"merges\"");
  }
  TokenizerJsonContents out;
  out.text.token_bytes = place_vocab(contents.vocab, tokenizer_json);
  out.text.merges = std::move(contents.merges);
  if (out.text.merges.empty()) {
    throw TokenizerError(quoted(tokenizer_json) + ": holds no merges");
  }
  out.added = std::move(contents.added);
  return out;
}

}  // namespace earshot::models::whisper
