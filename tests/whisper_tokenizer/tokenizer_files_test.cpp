// Loading from each file layout, the search-path fallback, and clear errors for missing or
// corrupt files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

namespace fs = std::filesystem;
using models::whisper::Tokenizer;
using models::whisper::TokenizerError;
using models::whisper::TokenizerFiles;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("earshot_tokenizer_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void copy_from_99(const std::string& name) const {
    fs::copy_file(tokenizer_fixture("hf-multilingual-99/" + name), path_ / name);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Loading must fail with a TokenizerError whose message contains every fragment.
void expect_load_error(const std::vector<fs::path>& dirs,
                       const std::vector<std::string>& fragments) {
  try {
    Tokenizer::load(dirs);
    FAIL() << "loaded without error";
  } catch (const TokenizerError& e) {
    for (const std::string& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << f << "\"";
    }
  }
}

void expect_same_tokenizer(const Tokenizer& a, const Tokenizer& b) {
  ASSERT_EQ(a.vocab_size(), b.vocab_size());
  ASSERT_EQ(a.text_vocab_size(), b.text_vocab_size());
  EXPECT_EQ(a.merge_count(), b.merge_count());
  for (int id = 0; id < a.vocab_size(); ++id) {
    ASSERT_EQ(a.token_bytes(id), b.token_bytes(id)) << id;
    ASSERT_EQ(a.is_special(id), b.is_special(id)) << id;
  }
  EXPECT_EQ(a.special().language_codes, b.special().language_codes);
  EXPECT_EQ(a.non_speech_tokens(), b.non_speech_tokens());
  for (const auto& sample : tokens_json().at("samples")) {
    const auto text = sample.at("text").get<std::string>();
    EXPECT_EQ(a.encode(text), b.encode(text)) << text;
  }
  // A longer mixed text exercising many merges.
  std::string text;
  for (const auto& sample : tokens_json().at("samples"))
    text += sample.at("text").get<std::string>();
  EXPECT_EQ(a.encode(text), b.encode(text));
}

TEST(WhisperTokenizerFiles, TokenizerJsonAndVocabMergesAgree) {
  const fs::path dir = tokenizer_fixture("hf-multilingual-99");
  TokenizerFiles from_json;
  from_json.tokenizer_json = dir / "tokenizer.json";
  from_json.specials_tokenizer_json = dir / "tokenizer.json";
  TokenizerFiles from_vocab;
  from_vocab.vocab_json = dir / "vocab.json";
  from_vocab.merges_txt = dir / "merges.txt";
  from_vocab.added_tokens_json = dir / "added_tokens.json";
  const Tokenizer a = Tokenizer::load(from_json);
  const Tokenizer b = Tokenizer::load(from_vocab);
  EXPECT_EQ(a.merge_count(), 50000u);
  expect_same_tokenizer(a, b);
  expect_same_tokenizer(a, tokenizer_99());
}

TEST(WhisperTokenizerFiles, DirectoryWithOnlyTokenizerJson) {
  TempDir tmp;
  tmp.copy_from_99("tokenizer.json");
  const Tokenizer tok = Tokenizer::load(tmp.path());
  EXPECT_EQ(tok.vocab_size(), 51865);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int>{15947, 1002}));
}

TEST(WhisperTokenizerFiles, TextTokensMatchTiktokenRanks) {
  // multilingual.tiktoken is openai's own file: "base64(bytes) rank" per line.
  const std::string text = read_file(tokenizer_fixture("multilingual.tiktoken"));
  const auto base64 = [](std::string_view in) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
      int v;
      if (c >= 'A' && c <= 'Z')
        v = c - 'A';
      else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 26;
      else if (c >= '0' && c <= '9')
        v = c - '0' + 52;
      else if (c == '+')
        v = 62;
      else if (c == '/')
        v = 63;
      else
        break;  // '=' padding
      buffer = (buffer << 6) | static_cast<unsigned>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
      }
    }
    return out;
  };
  const Tokenizer& tok = tokenizer_99();
  std::istringstream lines(text);
  std::string encoded;
  int rank = 0;
  int count = 0;
  while (lines >> encoded >> rank) {
    ASSERT_LT(rank, tok.text_vocab_size());
    ASSERT_EQ(tok.token_bytes(rank), base64(encoded)) << "rank " << rank;
    ++count;
  }
  EXPECT_EQ(count, tok.text_vocab_size());
}

TEST(WhisperTokenizerFiles, LargeV3SearchPathFallback) {
  // hf-multilingual-100 holds only added_tokens.json + tokenizer_config.json.
  expect_load_error({tokenizer_fixture("hf-multilingual-100")},
                    {"no vocab.json + merges.txt or tokenizer.json", "hf-multilingual-100"});
  const Tokenizer& tok = tokenizer_100();
  EXPECT_EQ(tok.vocab_size(), 51866);
  EXPECT_EQ(tok.special().language_count(), 100);
  // Order matters: the first directory with special tokens wins.
  const Tokenizer swapped = Tokenizer::load(std::vector<fs::path>{
      tokenizer_fixture("hf-multilingual-99"), tokenizer_fixture("hf-multilingual-100")});
  EXPECT_EQ(swapped.vocab_size(), 51865);
}

TEST(WhisperTokenizerFiles, MissingFilesAreNamed) {
  expect_load_error({"/nonexistent/earshot-tokenizer"},
                    {"/nonexistent/earshot-tokenizer", "does not exist"});
  TempDir empty;
  expect_load_error({empty.path()}, {"no vocab.json + merges.txt or tokenizer.json"});
  TempDir vocab_only;
  vocab_only.copy_from_99("vocab.json");
  expect_load_error({vocab_only.path()}, {"vocab.json but no merges.txt"});
  TempDir no_specials;
  no_specials.copy_from_99("vocab.json");
  no_specials.copy_from_99("merges.txt");
  expect_load_error({no_specials.path()}, {"no added_tokens.json or tokenizer.json"});
}

TEST(WhisperTokenizerFiles, CorruptVocabAndMerges) {
  TempDir dir;
  dir.copy_from_99("merges.txt");
  dir.copy_from_99("added_tokens.json");
  const std::string vocab = read_file(tokenizer_fixture("hf-multilingual-99/vocab.json"));

  dir.write("vocab.json", vocab.substr(0, vocab.size() / 2));  // truncated
  expect_load_error({dir.path()}, {"vocab.json", "not valid JSON"});
  dir.write("vocab.json", "{\"a\": \"x\"}");
  expect_load_error({dir.path()}, {"vocab.json", "not an integer"});
  dir.write("vocab.json", "{\"a\": 0, \"b\": 5}");
  expect_load_error({dir.path()}, {"vocab.json", "contiguous"});
  dir.write("vocab.json", "{\"a b\": 0}");
  expect_load_error({dir.path()}, {"vocab.json", "byte-level alphabet"});
  dir.write("vocab.json", "[1, 2]");
  expect_load_error({dir.path()}, {"vocab.json", "not a non-empty JSON object"});

  dir.write("vocab.json", vocab);
  const std::string merges = read_file(tokenizer_fixture("hf-multilingual-99/merges.txt"));
  dir.write("merges.txt", merges + "Ġt Ġzzzzqq\n");
  expect_load_error({dir.path()}, {"merges.txt", "merge 50000", "not in the vocabulary"});
  dir.write("merges.txt", merges + "nospace\n");
  expect_load_error({dir.path()}, {"merges.txt", "merge 50000", "separated by one space"});
  dir.write("merges.txt", "#version: 0.2\n");
  expect_load_error({dir.path()}, {"merges.txt", "no merges"});
  dir.write("merges.txt", merges);
  EXPECT_NO_THROW(Tokenizer::load(dir.path()));
}

TEST(WhisperTokenizerFiles, CorruptAddedTokens) {
  TempDir dir;
  dir.copy_from_99("vocab.json");
  dir.copy_from_99("merges.txt");
  const auto added =
      models::read_json_file(tokenizer_fixture("hf-multilingual-99/added_tokens.json"));

  auto without = added;
  without.erase("<|transcribe|>");
  dir.write("added_tokens.json", without.dump());
  expect_load_error({dir.path()}, {"added_tokens.json", "<|transcribe|>", "missing"});

  auto moved = added;
  moved["<|1.00|>"] = 50000;  // a timestamp out of place
  dir.write("added_tokens.json", moved.dump());
  expect_load_error({dir.path()}, {"added_tokens.json"});

  auto not_language = added;
  not_language.erase("<|de|>");
  not_language["<|DE-x|>"] = 50261;
  dir.write("added_tokens.json", not_language.dump());
  expect_load_error({dir.path()}, {"added_tokens.json", "50261", "not a language"});

  auto bad_id = added;
  bad_id["<|endoftext|>"] = "x";
  dir.write("added_tokens.json", bad_id.dump());
  expect_load_error({dir.path()}, {"added_tokens.json", "<|endoftext|>", "no valid id"});

  dir.write("added_tokens.json", "{");
  expect_load_error({dir.path()}, {"added_tokens.json", "not valid JSON"});
}

TEST(WhisperTokenizerFiles, AddedTokensWithoutTimestampsGetThemAppended) {
  // Tokenizer files written before the Hub added timestamp tokens end at <|notimestamps|>;
  // the timestamps then follow it, as in every Whisper model.
  TempDir dir;
  dir.copy_from_99("vocab.json");
  dir.copy_from_99("merges.txt");
  auto added = models::read_json_file(tokenizer_fixture("hf-multilingual-99/added_tokens.json"));
  for (auto it = added.begin(); it != added.end();) {
    it = it.key().find('.') != std::string::npos ? added.erase(it) : std::next(it);
  }
  ASSERT_EQ(added.size(), 107u);
  dir.write("added_tokens.json", added.dump());
  const Tokenizer tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok.vocab_size(), 51865);
  EXPECT_EQ(tok.special().timestamp_begin, 50364);
  EXPECT_EQ(tok.token_bytes(50414), "<|1.00|>");
}

TEST(WhisperTokenizerFiles, CorruptTokenizerJson) {
  TempDir dir;
  const std::string json = read_file(tokenizer_fixture("hf-multilingual-99/tokenizer.json"));
  dir.write("tokenizer.json", json.substr(0, json.size() - 10));
  expect_load_error({dir.path()}, {"tokenizer.json", "not valid JSON"});
  dir.write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\"}}");
  expect_load_error({dir.path()}, {"tokenizer.json", "BPE"});
  dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}");
  expect_load_error({dir.path()}, {"tokenizer.json", "merges"});
  dir.write("tokenizer.json",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}");
  expect_load_error({dir.path()}, {"tokenizer.json", "merge 0"});
}

}  // namespace
}  // namespace earshot::test
