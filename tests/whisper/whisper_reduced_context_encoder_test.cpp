// The encoder on a reduced audio context (live captions over short windows): n_frames even and
// at most 3000 mel frames give n_frames / 2 positions. What is guaranteed, and checked here:
// 3000 frames is the reference encoder (fixture, <= 1e-4); a reduced run writes exactly its
// [n_frames / 2, d] output and nothing past it; it leaves no state behind (a full run after it
// is bit-identical to one before); invalid sizes are refused. What is NOT guaranteed: equality
// with the full run's first positions (self-attention sees fewer positions), so that gap is
// measured and only required to be nonzero and finite.
#include "models/whisper/whisper_encoder.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

// The first `frames` columns of a [n_mels, 3000] mel, as a contiguous [n_mels, frames] matrix.
std::vector<float> mel_prefix(const std::vector<float>& mel, int n_mels, int frames) {
  std::vector<float> out(static_cast<std::size_t>(n_mels) * frames);
  for (int m = 0; m < n_mels; ++m)
    std::copy_n(mel.begin() + static_cast<std::ptrdiff_t>(m) * 3000, frames,
                out.begin() + static_cast<std::ptrdiff_t>(m) * frames);
  return out;
}

struct EncoderFixture {
  rt::MemoryBudget budget{512u << 20};
  std::unique_ptr<WhisperModel> model;
  std::vector<float> mel, expected;
  explicit EncoderFixture(const std::string& name) {
    model = WhisperModel::load(model_dir(name), budget);
    const auto ref = refs(name);
    mel = ref.load_f32("mel");
    expected = ref.load_f32("encoder_out");
  }
  const WhisperConfig& c() const { return model->config; }
};

void check_reduced(const std::string& name, int threads) {
  EncoderFixture f(name);
  ThreadTeam team(threads);
  WhisperEncoder encoder(*f.model, f.budget, &team);
  const int d = f.c().d_model;
  const std::size_t full_size = static_cast<std::size_t>(f.c().n_audio_ctx) * d;
  const float sentinel = std::numeric_limits<float>::quiet_NaN();

  std::vector<float> full_before(full_size);
  encoder.forward(f.mel.data(), f.c().n_mels, 3000, full_before.data());
  EXPECT_LE(max_abs_diff(full_before, f.expected), 1e-4) << "n_frames = 3000 is the reference";

  // 2 frames (one position) up to 2998; 6.8 s of fixture speech spans 339 positions.
  for (int positions : {1, 64, 192, 339, 384, 1499}) {
    const int frames = 2 * positions;
    const auto mel = mel_prefix(f.mel, f.c().n_mels, frames);
    std::vector<float> out(full_size, sentinel);
    encoder.forward(mel.data(), f.c().n_mels, frames, out.data());
    const std::size_t written = static_cast<std::size_t>(positions) * d;
    std::size_t finite = 0, untouched = 0;
    for (std::size_t i = 0; i < written; ++i) finite += std::isfinite(out[i]) ? 1 : 0;
    for (std::size_t i = written; i < full_size; ++i) untouched += std::isnan(out[i]) ? 1 : 0;
    EXPECT_EQ(finite, written) << positions << " positions: every output value written";
    EXPECT_EQ(untouched, full_size - written) << positions << " positions: nothing past them";

    // Final LayerNorm with the fixture's weights: each row is finite and bounded; the rows
    // differ from the full context's (attention over fewer positions), by a measured amount.
    const double gap = max_abs_diff(std::span<const float>(out).first(written),
                                    std::span<const float>(f.expected).first(written));
    double mean_gap = 0.0;
    for (std::size_t i = 0; i < written; ++i)
      mean_gap += std::fabs(static_cast<double>(out[i]) - f.expected[i]);
    mean_gap /= static_cast<double>(written);
    std::printf("[%s, %d thread(s)] %4d positions vs full context: max |diff| %.3g, mean %.3g\n",
                name.c_str(), threads, positions, gap, mean_gap);
    EXPECT_TRUE(std::isfinite(gap));
    EXPECT_GT(gap, 1e-4) << "a reduced context cannot equal the full one (attention differs)";

    // The same call again: deterministic, bit for bit.
    std::vector<float> again(full_size, sentinel);
    encoder.forward(mel.data(), f.c().n_mels, frames, again.data());
    EXPECT_EQ(0, std::memcmp(out.data(), again.data(), written * sizeof(float)));
  }

  // No state carried from the reduced runs into a full one.
  std::vector<float> full_after(full_size);
  encoder.forward(f.mel.data(), f.c().n_mels, 3000, full_after.data());
  EXPECT_EQ(0, std::memcmp(full_before.data(), full_after.data(), full_size * sizeof(float)));
}

TEST(WhisperReducedContextEncoder, TinyRandomShapesAndNoLeftoverState) {
  check_reduced("tiny-random", 1);
}
TEST(WhisperReducedContextEncoder, V3RandomF16TwoThreads) {
  check_reduced("v3-random", 2);
}

TEST(WhisperReducedContextEncoder, ThreadCountDoesNotChangeAReducedRun) {
  EncoderFixture f("tiny-random");
  ThreadTeam team(3);
  WhisperEncoder one(*f.model, f.budget), three(*f.model, f.budget, &team);
  const int frames = 256;
  const auto mel = mel_prefix(f.mel, f.c().n_mels, frames);
  std::vector<float> a(static_cast<std::size_t>(frames / 2) * f.c().d_model), b(a.size());
  one.forward(mel.data(), f.c().n_mels, frames, a.data());
  three.forward(mel.data(), f.c().n_mels, frames, b.data());
  EXPECT_LE(max_abs_diff(a, b), 1e-5);
}

TEST(WhisperReducedContextEncoder, InvalidFrameCountsAreRefused) {
  EncoderFixture f("tiny-random");
  WhisperEncoder encoder(*f.model, f.budget);
  std::vector<float> out(static_cast<std::size_t>(f.c().n_audio_ctx) * f.c().d_model);
  for (int frames : {0, -2, 1, 255, 2999, 3002, 6000}) {
    try {
      encoder.forward(f.mel.data(), f.c().n_mels, frames, out.data());
      ADD_FAILURE() << frames << " frames accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(frames)), std::string::npos)
          << "the message names the count: " << e.what();
    }
  }
}

}  // namespace
}  // namespace earshot::models::whisper
