#include "models/whisper/tokenizer_special.hpp"

#include <cstdio>
#include <unordered_map>

#include "models/whisper/tokenizer_error.hpp"

namespace earshot::models::whisper {

std::string timestamp_token_text(int index) {
  // index * 0.02 s with two decimals, in integer arithmetic (no rounding question).
  const int hundredths = index * 2;
  char text[32];
  std::snprintf(text, sizeof text, "<|%d.%02d|>", hundredths / 100, hundredths % 100);
  return text;
}

namespace {

bool is_language_code(const std::string& content, std::string& code) {
  if (content.size() < 5 || !content.starts_with("<|") || !content.ends_with("|>")) return false;
  code = content.substr(2, content.size() - 4);
  if (code.empty() || code.size() > 3) return false;
  for (char c : code) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

}  // namespace

SpecialTokens resolve_special_tokens(std::vector<AddedToken>& added, const std::string& where) {
  std::unordered_map<std::string, int> id_of;
  std::unordered_map<int, std::string> content_of;
  for (const AddedToken& t : added) {
    id_of.emplace(t.content, t.id);
    content_of.emplace(t.id, t.content);
  }
  const auto require = [&](std::initializer_list<const char*> names) {
    for (const char* name : names) {
      if (const auto it = id_of.find(name); it != id_of.end()) return it->second;
    }
    throw TokenizerError(where + ": the special token " + std::string(*names.begin()) +
                         " is missing");
  };

  SpecialTokens s;
  s.eot = require({"<|endoftext|>"});
  s.sot = require({"<|startoftranscript|>"});
  s.translate = require({"<|translate|>"});
  s.transcribe = require({"<|transcribe|>"});
  s.sot_lm = require({"<|startoflm|>"});
  s.sot_prev = require({"<|startofprev|>"});
  s.no_speech = require({"<|nospeech|>", "<|nocaptions|>"});
  s.no_timestamps = require({"<|notimestamps|>"});

  // The task and control tokens follow the languages in a fixed order; decoding relies on it
  // (e.g. language detection takes the logits between sot + 1 and translate).
  if (s.translate <= s.sot + 1 || s.transcribe != s.translate + 1 || s.sot_lm != s.translate + 2 ||
      s.sot_prev != s.translate + 3 || s.no_speech != s.translate + 4 ||
      s.no_timestamps != s.translate + 5) {
    throw TokenizerError(where +
                         ": special tokens are not in Whisper's order (<|startoftranscript|>, "
                         "languages, <|translate|>, <|transcribe|>, <|startoflm|>, "
                         "<|startofprev|>, <|nospeech|>, <|notimestamps|>)");
  }
  for (int id = s.sot + 1; id < s.translate; ++id) {
    const auto it = content_of.find(id);
    std::string code;
    if (it == content_of.end() || !is_language_code(it->second, code)) {
      throw TokenizerError(where + ": token " + std::to_string(id) +
                           " between <|startoftranscript|> and <|translate|> is not a language");
    }
    s.language_codes.push_back(code);
  }

  if (id_of.find(timestamp_token_text(0)) == id_of.end()) {
    for (const AddedToken& t : added) {
      if (t.id > s.no_timestamps) {
        throw TokenizerError(where + ": no timestamp tokens, yet token " + std::to_string(t.id) +
                             " follows <|notimestamps|>");
      }
    }
    for (int i = 0; i < kTimestampTokenCount; ++i) {
      added.push_back({timestamp_token_text(i), s.no_timestamps + 1 + i});
    }
    s.timestamp_begin = s.no_timestamps + 1;
  } else {
    s.timestamp_begin = id_of.at(timestamp_token_text(0));
    for (int i = 0; i < kTimestampTokenCount; ++i) {
      const auto it = content_of.find(s.timestamp_begin + i);
      if (it == content_of.end() || it->second != timestamp_token_text(i)) {
        throw TokenizerError(where + ": token " + std::to_string(s.timestamp_begin + i) +
                             " should be " + timestamp_token_text(i));
      }
    }
  }
  if (s.timestamp_begin != s.no_timestamps + 1) {
    throw TokenizerError(where + ": <|0.00|> does not follow <|notimestamps|>");
  }
  s.timestamp_end = s.timestamp_begin + kTimestampTokenCount - 1;
  return s;
}

}  // namespace earshot::models::whisper
