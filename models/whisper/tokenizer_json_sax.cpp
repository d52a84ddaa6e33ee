#include "models/whisper/tokenizer_json_sax.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/tokenizer_error.hpp"

namespace earshot::models::whisper {

namespace fs = std::filesystem;

bool split_merge_spelling(std::string_view line, std::string& left, std::string& right) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 >= line.size() ||
      line.find(' ', space + 1) != std::string_view::npos) {
    return false;
  }
  auto l = bpe::byte_level_to_bytes(line.substr(0, space));
  auto r = bpe::byte_level_to_bytes(line.substr(space + 1));
  if (!l || !r) return false;
  left = std::move(*l);
  right = std::move(*r);
  return true;
}

namespace {

using Json = nlohmann::json;

// Where in the document the parser is; only these places are collected.
enum class Place { kOther, kRoot, kModel, kVocab, kMerges, kMergePair, kAddedList, kAddedEntry };

class Collector : public nlohmann::json_sax<Json> {
 public:
  Collector(BpeJsonLayout layout, BpeJsonContents& out) : layout_(layout), out_(out) {}

  std::string error;  // set when a value had the wrong type (parsing then stops)

  bool null() override { return scalar_of_wrong_type("null"); }
  bool boolean(bool) override { return scalar_of_wrong_type("a boolean"); }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return integer(v > (1ull << 40) ? -1 : static_cast<long long>(v));
  }
  bool number_float(number_float_t, const string_t&) override {
    return scalar_of_wrong_type("a fractional number");
  }
  bool binary(binary_t&) override { return scalar_of_wrong_type("binary"); }

  bool string(string_t& value) override {
    switch (here()) {
      case Place::kModel:
        if (key_ == "type") out_.model_type = value;
        return true;
      case Place::kMerges: {
        std::string left;
        std::string right;
        if (!split_merge_spelling(value, left, right)) {
          return fail("merge " + std::to_string(out_.merges.size()) + " (\"" + value +
                      "\") is not two byte-level tokens separated by one space");
        }
        out_.merges.emplace_back(std::move(left), std::move(right));
        return true;
      }
      case Place::kMergePair: {
        auto bytes = bpe::byte_level_to_bytes(value);
        if (!bytes) {
          return fail("merge " + std::to_string(out_.merges.size()) + " uses \"" + value +
                      "\", which is not spelled in the byte-level alphabet");
        }
        pair_parts_.push_back(std::move(*bytes));
        return true;
      }
      case Place::kAddedEntry:
        if (key_ == "content") added_content_ = value, added_has_content_ = true;
        return true;
      case Place::kVocab:
        return fail("the id of token \"" + key_ + "\" is not an integer");
      default:
        return true;
    }
  }

  bool start_object(std::size_t) override { return push(true); }
  bool start_array(std::size_t) override { return push(false); }
  bool end_object() override { return pop(); }
  bool end_array() override { return pop(); }

  bool key(string_t& value) override {
    key_ = value;
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    error = "not valid JSON (error at byte " + std::to_string(position) + ")";
    return false;
  }

 private:
  Place here() const { return stack_.empty() ? Place::kOther : stack_.back(); }

  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }

  bool scalar_of_wrong_type(const char* what) {
    switch (here()) {
      case Place::kVocab:
        return fail("the id of token \"" + key_ + "\" is " + what + ", not an integer");
      case Place::kMerges:
      case Place::kMergePair:
        return fail("merge " + std::to_string(out_.merges.size()) + " is " + what);
      default:
        return true;
    }
  }

  bool integer(long long value) {
    switch (here()) {
      case Place::kVocab: {
        auto bytes = bpe::byte_level_to_bytes(key_);
        if (!bytes) {
          return fail("token \"" + key_ + "\" is not spelled in the byte-level alphabet");
        }
        out_.vocab.emplace_back(std::move(*bytes), value);
        return true;
      }
      case Place::kAddedEntry:
        if (key_ == "id") added_id_ = value;
        return true;
      case Place::kMerges:
      case Place::kMergePair:
        return scalar_of_wrong_type("a number");
      default:
        return true;
    }
  }

  // The place a new container opens, from where it opens and under which key.
  Place child_place(bool is_object) const {
    if (stack_.empty()) {
      if (!is_object) return Place::kOther;
      return layout_ == BpeJsonLayout::kVocabJson ? Place::kVocab : Place::kRoot;
    }
    switch (here()) {
      case Place::kRoot:
        if (key_ == "model" && is_object) return Place::kModel;
        if (key_ == "added_tokens" && !is_object) return Place::kAddedList;
        return Place::kOther;
      case Place::kModel:
        if (key_ == "vocab" && is_object) return Place::kVocab;
        if (key_ == "merges" && !is_object) return Place::kMerges;
        return Place::kOther;
      case Place::kMerges:
        return is_object ? Place::kOther : Place::kMergePair;
      case Place::kAddedList:
        return is_object ? Place::kAddedEntry : Place::kOther;
      default:
        return Place::kOther;
    }
  }

  bool push(bool is_object) {
    const Place place = child_place(is_object);
    if (here() == Place::kVocab) return fail("the id of token \"" + key_ + "\" is not an integer");
    if (here() == Place::kMerges && is_object) {
      return fail("merge " + std::to_string(out_.merges.size()) + " is an object");
    }
    if (here() == Place::kMergePair) {
      return fail("merge " + std::to_string(out_.merges.size()) + " is nested too deep");
    }
    switch (place) {
      case Place::kModel:
        out_.has_model = true;
        break;
      case Place::kVocab:
        out_.has_vocab = true;
        break;
      case Place::kMerges:
        out_.has_merges = true;
        break;
      case Place::kMergePair:
        pair_parts_.clear();
        break;
      case Place::kAddedEntry:
        added_id_ = -1;
        added_has_content_ = false;
        break;
      default:
        break;
    }
    stack_.push_back(place);
    return true;
  }

  bool pop() {
    const Place place = here();
    stack_.pop_back();
    if (place == Place::kMergePair) {
      if (pair_parts_.size() != 2) {
        return fail("merge " + std::to_string(out_.merges.size()) + " is not a pair");
      }
      out_.merges.emplace_back(std::move(pair_parts_[0]), std::move(pair_parts_[1]));
    } else if (place == Place::kAddedEntry) {
      if (added_id_ < 0 || added_id_ > (1 << 30) || !added_has_content_) {
        return fail("an added token lacks a valid \"id\" or \"content\"");
      }
      out_.added.push_back({added_content_, static_cast<int>(added_id_)});
    }
    return true;
  }

  BpeJsonLayout layout_;
  BpeJsonContents& out_;
  std::vector<Place> stack_;
  std::string key_;
  std::vector<std::string> pair_parts_;
  long long added_id_ = -1;
  std::string added_content_;
  bool added_has_content_ = false;
};

}  // namespace

BpeJsonContents read_bpe_json(const fs::path& path, BpeJsonLayout layout) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError("cannot open tokenizer file '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw TokenizerError("cannot read tokenizer file '" + path.string() + "'");

  BpeJsonContents out;
  Collector collector(layout, out);
  const bool ok = Json::sax_parse(std::move(text).str(), &collector);
  if (!ok || !collector.error.empty()) {
    throw TokenizerError("tokenizer file '" + path.string() +
                         "': " + (collector.error.empty() ? "not valid JSON" : collector.error));
  }
  return out;
}

}  // namespace earshot::models::whisper
