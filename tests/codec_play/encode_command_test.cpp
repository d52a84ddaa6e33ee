// `earshot codec encode` with the causal 24 kHz model runs the streaming encoder (block by block,
// flat memory): its codes match the fixture at every stored bandwidth under the README's rule
// (a mismatch only where codes_margin marks a near-tie below 1e-4, and from there on in that
// frame), read back through the .npy it wrote.
#include "dsp/audio_file.hpp"
#include "models/encodec/codes_file.hpp"
#include "models/encodec/encodec_config.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/codec_play/play_test_util.hpp"
#include "tests/encodec/fixture_util.hpp"

namespace earshot::codec::test {
namespace {

TEST(CodecEncodeCommand, StreamingEncodeMatchesTheFixtureCodes) {
  const auto ref = models::SafetensorsFile::open(model_dir() / "ref.safetensors");
  const auto audio = ref.load_f32("audio");  // 100000 samples, mono 24 kHz
  const std::string base = "/tmp/earshot-codec-encode-" + std::to_string(::getpid());
  dsp::write_wav_atomic(base + ".wav", audio, 1, 24000, dsp::WavEncoding::Float32);
  const auto margin = ref.load_f32("codes_margin");
  const auto config = encodec::load_encodec_config(model_dir());
  for (const auto& [name, kbps, n_q] : std::vector<std::tuple<std::string, std::string, int>>{
           {"codes_1_5kbps", "1.5", 2}, {"codes_6kbps", "6", 8}, {"codes_24kbps", "24", 32}}) {
    earshot::test::Subprocess run({earshot::test::earshot_binary(), "codec", "encode", "--model",
                                   model_dir().string(), base + ".wav", "-o", base + ".npy",
                                   "--bandwidth", kbps});
    ASSERT_EQ(run.wait(120), 0) << run.err();
    const auto codes = encodec::load_codes(base + ".npy", config);
    ASSERT_EQ(codes.n_q, n_q);
    ASSERT_EQ(codes.chunks.size(), 1u);
    ASSERT_EQ(codes.chunks[0].frames, kFrames);
    const auto expected = ref.load_i32(name);
    const auto cmp = encodec::test::compare_codes(codes.chunks[0].codes.data(), expected.data(),
                                                  margin.data(), n_q, kFrames, kFrames, kFrames);
    std::printf("encode command %s: %d exact, %d excused near-tie, %d wrong\n", name.c_str(),
                cmp.exact, cmp.excused, cmp.failures);
    EXPECT_EQ(cmp.failures, 0) << name << " first: " << cmp.first_failure;
  }
  std::remove((base + ".wav").c_str());
  std::remove((base + ".npy").c_str());
}

}  // namespace
}  // namespace earshot::codec::test
