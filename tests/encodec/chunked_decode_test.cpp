// 48 kHz (chunked) decode one chunk at a time: the overlap-added audio comes out chunk by chunk,
// equals the whole-input overlap-add of the reference formula, and `earshot codec decode` keeps
// its memory flat in the input's length.
#include "models/encodec/chunked_decode.hpp"
#include "dsp/audio_file.hpp"
#include "models/encodec/codes_file.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <random>

extern char** environ;

namespace earshot::encodec::test {
namespace {

namespace fs = std::filesystem;

struct ChunkedDecode : ::testing::Test {
  rt::MemoryBudget budget{256u << 20};
  EncodecModel model = EncodecModel::load(model_dir("48khz-random"), budget);
  fs::path dir = fs::temp_directory_path() / ("earshot_chunked_" + std::to_string(getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  // Random codes for `samples` of audio, chunked as the encoder chunks, random loudness scales.
  EncodedAudio random_codes(std::int64_t samples, int n_q, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> code(0, model.quantizer().codebook_size() - 1);
    std::uniform_real_distribution<float> scale(0.05f, 0.5f);
    EncodedAudio e;
    e.n_q = n_q;
    e.audio_length = samples;
    const std::int64_t hop = model.config().hop_length();
    for (const auto& span : model.chunk_spans(samples)) {
      CodeChunk c;
      c.frames = (span.length + hop - 1) / hop;
      c.codes.resize(static_cast<std::size_t>(c.frames * n_q));
      for (auto& v : c.codes) v = code(rng);
      c.scale = scale(rng);
      e.chunks.push_back(std::move(c));
    }
    return e;
  }

  // transformers' _linear_overlap_add over every chunk at once, written out independently.
  std::vector<float> whole_overlap_add(const EncodedAudio& e) {
    const int ch = model.config().audio_channels;
    std::vector<std::vector<float>> frames;
    for (const auto& c : e.chunks) frames.push_back(model.decode_chunk(c, e.n_q));
    const std::int64_t stride = model.config().chunk_stride();
    const std::int64_t first = static_cast<std::int64_t>(frames[0].size()) / ch;
    const std::int64_t total = stride * static_cast<std::int64_t>(frames.size() - 1) +
                               static_cast<std::int64_t>(frames.back().size()) / ch;
    std::vector<float> w(static_cast<std::size_t>(first));
    for (std::int64_t i = 0; i < first; ++i) {
      const double t = static_cast<double>(i + 1) / static_cast<double>(first + 1);
      w[i] = static_cast<float>(0.5 - std::abs(t - 0.5));
    }
    std::vector<float> out(static_cast<std::size_t>(total * ch), 0.0f);
    std::vector<float> sum(static_cast<std::size_t>(total), 0.0f);
    for (std::size_t k = 0; k < frames.size(); ++k) {
      const std::int64_t off = static_cast<std::int64_t>(k) * stride;
      const std::int64_t len = static_cast<std::int64_t>(frames[k].size()) / ch;
      for (std::int64_t t = 0; t < len && off + t < total; ++t) {
        for (int c = 0; c < ch; ++c) out[(off + t) * ch + c] += w[t] * frames[k][t * ch + c];
        sum[off + t] += w[t];
      }
    }
    for (std::int64_t t = 0; t < total; ++t) {
      for (int c = 0; c < ch; ++c) out[t * ch + c] /= sum[t];
    }
    out.resize(static_cast<std::size_t>(std::min(total, e.audio_length) * ch));
    return out;
  }
};

TEST_F(ChunkedDecode, PiecesComeOutChunkByChunkAndEqualTheWholeOverlapAdd) {
  const std::int64_t stride = model.config().chunk_stride();
  // 4.2 s: five chunks; and one whose last chunk (100 samples) is shorter than the overlap, so
  // the chunk before it reaches past the end of the output.
  for (std::int64_t samples : {std::int64_t{201600}, 3 * stride + 100}) {
    const auto codes = random_codes(samples, 2, 11);
    ASSERT_GE(codes.chunks.size(), 4u);
    std::vector<float> got;
    std::vector<std::int64_t> pieces;
    decode_chunks(model, codes, [&](const float* audio, std::int64_t n) {
      got.insert(got.end(), audio, audio + n * 2);
      pieces.push_back(n);
    });
    const auto expected = whole_overlap_add(codes);
    ASSERT_EQ(got.size(), expected.size()) << samples;
    EXPECT_EQ(got, expected) << "the same additions in the same order: bitwise equal";
    // One piece per chunk, each at most one stride: nothing waits for the end of the input.
    EXPECT_EQ(pieces.size(), codes.chunks.size());
    for (std::size_t i = 0; i + 1 < pieces.size(); ++i) EXPECT_EQ(pieces[i], stride);
    // And EncodecModel::decode returns the same.
    EXPECT_EQ(model.decode(codes), expected);
  }
}

// Peak resident memory of one `earshot codec decode` (ASan's quarantine off, so that under the
// sanitizer it measures what the program holds).
long decode_peak_rss_kib(const std::string& model_path, const std::string& in,
                         const std::string& out) {
  const std::string bin = earshot::test::earshot_binary();
  std::vector<std::string> args = {bin, "codec", "decode", "--model", model_path, in, "-o", out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  std::string asan = "ASAN_OPTIONS=quarantine_size_mb=0";
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("ASAN_OPTIONS=", 0) == 0) {
      asan = entry + ":quarantine_size_mb=0";
    } else {
      env.push_back(entry);
    }
  }
  env.push_back(asan);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return usage.ru_maxrss;
}

TEST_F(ChunkedDecode, CommandMemoryIsFlatInLength) {
  const std::string m = model_dir("48khz-random").string();
  const int seconds[2] = {10, 60};
  // (Fixed names: GCC 12 warns falsely (-Wrestrict) on "c" + std::to_string(...).)
  const std::string npz[2] = {(dir / "c10.npz").string(), (dir / "c60.npz").string()};
  const std::string wav[2] = {(dir / "c10.wav").string(), (dir / "c60.wav").string()};
  for (int i = 0; i < 2; ++i) {
    save_codes(npz[i], random_codes(seconds[i] * 48000, 4, 5), model.config());
  }
  // Both children start from this process in the same state: a spawned child's ru_maxrss
  // includes the parent's resident size at the spawn (exec keeps the old address space's peak).
  long peak[2] = {};
  for (int i = 0; i < 2; ++i) {
    peak[i] = decode_peak_rss_kib(m, npz[i], wav[i]);
    ASSERT_GT(peak[i], 0) << "decode of " << seconds[i] << " s failed";
  }
  for (int i = 0; i < 2; ++i) {
    const auto audio = dsp::read_audio_file(wav[i]);
    EXPECT_EQ(audio.channels, 2u);
    EXPECT_EQ(static_cast<std::int64_t>(audio.samples.size()), seconds[i] * 48000 * 2);
    if (i == 0) {
      // The file is what EncodecModel::decode returns (float32 WAV: bit for bit).
      EXPECT_EQ(audio.samples, model.decode(random_codes(seconds[i] * 48000, 4, 5)));
    }
  }
  std::printf(
      "codec decode 48 kHz peak RSS: 10 s %.1f MB, 60 s %.1f MB (the 60 s output alone "
      "is %.1f MB)\n",
      peak[0] / 1024.0, peak[1] / 1024.0, 60.0 * 48000 * 2 * 4 / (1 << 20));
  // Whole-input decoding held every chunk and the output: about +2 x 18 MB for the extra 50 s.
  EXPECT_LT(peak[1] - peak[0], 4 * 1024) << "peak grows with the length of the input";
}

}  // namespace
}  // namespace earshot::encodec::test
