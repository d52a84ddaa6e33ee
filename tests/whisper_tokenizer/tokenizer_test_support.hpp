// Fixture access for the tokenizer tests: the tokenizer directories and tokens.json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/core/json_file.hpp"
#include "models/whisper/tokenizer.hpp"
#include "tests/test_support.hpp"

namespace earshot::test {

inline std::filesystem::path tokenizer_fixture(const std::string& name) {
  return fixture("whisper/tokenizer/" + name);
}

inline const nlohmann::json& tokens_json() {
  static const nlohmann::json doc = models::read_json_file(tokenizer_fixture("tokens.json"));
  return doc;
}

// Loading parses ~3 MB of JSON; share one instance per layout across the tests.
inline const models::whisper::Tokenizer& tokenizer_99() {
  static const auto tok = models::whisper::Tokenizer::load(tokenizer_fixture("hf-multilingual-99"));
  return tok;
}

inline const models::whisper::Tokenizer& tokenizer_100() {
  static const auto tok = models::whisper::Tokenizer::load(std::vector<std::filesystem::path>{
      tokenizer_fixture("hf-multilingual-100"), tokenizer_fixture("hf-multilingual-99")});
  return tok;
}

inline std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace earshot::test
