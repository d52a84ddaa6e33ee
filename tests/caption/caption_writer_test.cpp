// What the user sees: the live terminal line (committed plain, partial dimmed, redrawn in
// place), SRT/VTT cues, and UTF-8 characters split across commits printed whole.
#include "nodes/caption/caption_writer.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace earshot::nodes::caption {
namespace {

namespace ww = models::whisper;

const ww::Tokenizer& tokenizer() {
  static const ww::Tokenizer tok =
      ww::Tokenizer::load(earshot::test::fixture("whisper/tokenizer/hf-multilingual-99"));
  return tok;
}

CaptionEvent event(CaptionEventKind kind, const std::vector<int>& ids, double start, double end) {
  CaptionEvent e;
  e.kind = kind;
  e.start = start;
  e.end = end;
  e.n_tokens = static_cast<int>(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) e.tokens[i] = ids[i];
  return e;
}

// Runs `f` against a writer on a temporary file and returns what was written.
template <typename F>
std::string written(CaptionFormat format, bool live, F&& f) {
  std::FILE* file = std::tmpfile();
  {
    CaptionWriter w(file, format, &tokenizer(), live);
    f(w);
    w.close();
  }
  std::rewind(file);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) out.append(buf, n);
  std::fclose(file);
  return out;
}

TEST(CaptionWriter, LiveLineShowsPartialDimmedAndCommittedPlain) {
  const auto hello = tokenizer().encode(" Hello");
  const auto world = tokenizer().encode(" world.");
  const std::string out = written(CaptionFormat::kText, true, [&](CaptionWriter& w) {
    w.write(event(CaptionEventKind::kPartial, hello, 0.0, 0.5));
    w.write(event(CaptionEventKind::kCommit, hello, 0.0, 0.5));
    w.write(event(CaptionEventKind::kPartial, world, 0.5, 1.0));
  });
  // The partial is drawn dimmed (SGR 2) after the committed text, each redraw erasing the line.
  EXPECT_NE(out.find("\r\033[K\033[2m Hello\033[0m"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\033[K Hello\033[2m world.\033[0m"), std::string::npos) << out;
  // Closing drops the partial (it was never committed) and ends the line.
  EXPECT_EQ(out.substr(out.size() - 11), "\r\033[K Hello\n");
}

TEST(CaptionWriter, SrtAndVttCuesEndAtSentences) {
  const auto a = tokenizer().encode(" One sentence.");
  const auto b = tokenizer().encode(" And another");
  auto feed = [&](CaptionWriter& w) {
    w.write(event(CaptionEventKind::kPartial, a, 0.0, 1.0));  // partials never reach cues
    w.write(event(CaptionEventKind::kCommit, a, 0.5, 1.5));
    w.write(event(CaptionEventKind::kCommit, b, 2.0, 3.25));
  };
  EXPECT_EQ(written(CaptionFormat::kSrt, false, feed),
            "1\n00:00:00,500 --> 00:00:01,500\nOne sentence.\n\n"
            "2\n00:00:02,000 --> 00:00:03,250\nAnd another\n\n");
  EXPECT_EQ(written(CaptionFormat::kVtt, false, feed),
            "WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nOne sentence.\n\n"
            "00:00:02.000 --> 00:00:03.250\nAnd another\n\n");
}

TEST(CaptionWriter, CharacterSplitAcrossCommitsIsPrintedWhole) {
  // A character whose UTF-8 bytes are spread over several byte-level tokens.
  const auto ids = tokenizer().encode("\xe2\x9c\x93\xf0\x9f\x98\x80");  // check mark, emoji
  ASSERT_GE(ids.size(), 2u);
  std::string jsonl_text;
  const std::string out = written(CaptionFormat::kJsonl, false, [&](CaptionWriter& w) {
    for (std::size_t i = 0; i < ids.size(); ++i)
      w.write(event(CaptionEventKind::kCommit, {ids[i]}, 0.1 * i, 0.1 * (i + 1)));
    jsonl_text = w.committed_text();
  });
  EXPECT_EQ(jsonl_text, "\xe2\x9c\x93\xf0\x9f\x98\x80");
  EXPECT_EQ(out.find("\\ufffd"), std::string::npos) << "no replacement characters: " << out;
}

TEST(CaptionWriter, PercentilesAndClock) {
  EXPECT_EQ(percentile({}, 50), 0.0);
  EXPECT_EQ(percentile({3, 1, 2}, 50), 2.0);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 95), 10.0);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50), 5.0);
  EXPECT_EQ(caption_clock(3723.5, ','), "01:02:03,500");
  EXPECT_THROW(parse_caption_format("html"), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::nodes::caption
