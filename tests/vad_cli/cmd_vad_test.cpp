// End to end: the real `earshot vad` binary on the fixture recording, with both weights
// formats, against the reference helper's segments (within one window); and its errors.
#include "tests/vad/vad_test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace earshot::test::vad {
namespace {

struct Run {
  int status = -1;
  std::string output;
};

Run run(const std::string& args) {
  if (!std::filesystem::exists(earshot_binary())) {
    ADD_FAILURE() << earshot_binary() << " does not exist: build the earshot target first";
    return {};
  }
  const std::string command = earshot_binary() + " " + args;
  Run r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    r.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quoted(const std::filesystem::path& p) {
  std::ostringstream out;
  out << '\'' << p.string() << '\'';
  return out.str();
}

void expect_segments(const std::string& json_text, const nlohmann::json& expected) {
  const auto out = nlohmann::json::parse(json_text);
  const auto& got = out.at("segments");
  ASSERT_EQ(got.size(), expected.size()) << json_text;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double start = got[i].at("start").get<double>() * 16000.0;
    const double end = got[i].at("end").get<double>() * 16000.0;
    EXPECT_LE(std::fabs(start - expected[i][0].get<double>()), 512.0) << "segment " << i;
    EXPECT_LE(std::fabs(end - expected[i][1].get<double>()), 512.0) << "segment " << i;
  }
}

nlohmann::json fixture_json(const std::string& name) {
  std::ifstream in(vad_fixture(name));
  return nlohmann::json::parse(in);
}

TEST(CmdVad, JsonSegmentsMatchTheReferenceForEveryWeightsFile) {
  for (const auto& c : all_weight_cases()) {
    SCOPED_TRACE(c.weights);
    const auto expected = fixture_json(c.segments);
    const auto r = run("vad --vad-model " + quoted(vad_fixture(c.weights)) + " " +
                       quoted(vad_fixture("speech_human_16k.wav")) + " --format json 2>&1");
    ASSERT_EQ(r.status, 0) << r.output;
    expect_segments(r.output, expected.at("default").at("segments_samples"));
  }
}

TEST(CmdVad, OptionsChangeTheSegmentsLikeTheReference) {
  const auto expected = fixture_json("segments_v6.2.json").at("strict");
  const auto& p = expected.at("params");
  const auto r =
      run("vad --vad-model " + quoted(vad_fixture("silero_vad.onnx")) + " " +
          quoted(vad_fixture("speech_human_16k.wav")) + " --format json" + " --threshold " +
          std::to_string(p.at("threshold").get<double>()) + " --min-speech-ms " +
          std::to_string(p.at("min_speech_duration_ms").get<int>()) + " --min-silence-ms " +
          std::to_string(p.at("min_silence_duration_ms").get<int>()) + " --pad-ms " +
          std::to_string(p.at("speech_pad_ms").get<int>()) + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  expect_segments(r.output, expected.at("segments_samples"));
}

TEST(CmdVad, TextFormatHasOneLinePerSegment) {
  const auto expected = fixture_json("segments_v6.2.json").at("default").at("segments_samples");
  const auto r = run("vad --vad-model " + quoted(vad_fixture("silero_vad_v6.2_16k.safetensors")) +
                     " " + quoted(vad_fixture("speech_human_16k.wav")) + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  std::size_t lines = 0;
  double start = 0, end = 0;
  const char* text = r.output.c_str();
  int consumed = 0;
  while (std::sscanf(text, "%lf\t%lf\n%n", &start, &end, &consumed) == 2) {
    ASSERT_LT(lines, expected.size());
    EXPECT_NEAR(start * 16000.0, expected[lines][0].get<double>(), 512.0);
    EXPECT_NEAR(end * 16000.0, expected[lines][1].get<double>(), 512.0);
    ++lines;
    text += consumed;
  }
  EXPECT_EQ(lines, expected.size()) << r.output;
}

// Writes interleaved float32 frames as a WAV file.
void write_float_wav(const std::filesystem::path& path, const std::vector<float>& frames,
                     std::uint16_t channels, std::uint32_t rate) {
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  const auto data_bytes = static_cast<std::uint32_t>(frames.size() * 4);
  out.write("RIFF", 4);
  u32(36 + data_bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(3);  // IEEE float
  u16(channels);
  u32(rate);
  u32(rate * 4u * channels);
  u16(static_cast<std::uint16_t>(4 * channels));
  u16(32);
  out.write("data", 4);
  u32(data_bytes);
  out.write(reinterpret_cast<const char*>(frames.data()), data_bytes);
}

double speech_seconds(const nlohmann::json& segments) {
  double total = 0;
  for (const auto& s : segments) total += s.at("end").get<double>() - s.at("start").get<double>();
  return total;
}

TEST(CmdVad, OtherLayoutsAndRatesAreConverted) {
  const auto ref = earshot::models::SafetensorsFile::open(vad_fixture("ref_v6.2.safetensors"));
  const auto audio = ref.load_f32("speech_human_16k_audio");
  const auto expected = fixture_json("segments_v6.2.json").at("default").at("segments_samples");
  const auto path = std::filesystem::temp_directory_path() / "earshot_vad_converted.wav";
  const std::string model = " --vad-model " + quoted(vad_fixture("silero_vad.onnx")) + " ";

  // 16 kHz stereo, both channels equal: the mono mix is the original, segments as the fixture.
  std::vector<float> stereo;
  for (float v : audio) stereo.insert(stereo.end(), {v, v});
  write_float_wav(path, stereo, 2, 16000);
  auto r = run("vad" + model + quoted(path) + " --format json 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  expect_segments(r.output, expected);

  // 48 kHz (linear interpolation up, resampled back by the reader): the samples change a
  // little, so the detection may move a borderline boundary, but not the overall picture.
  std::vector<float> up;
  for (std::size_t i = 0; i < audio.size(); ++i) {
    const float next = i + 1 < audio.size() ? audio[i + 1] : 0.0f;
    for (int k = 0; k < 3; ++k)
      up.push_back(audio[i] + (next - audio[i]) * static_cast<float>(k) / 3.0f);
  }
  write_float_wav(path, up, 1, 48000);
  r = run("vad" + model + quoted(path) + " --format json 2>&1");
  std::filesystem::remove(path);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto got = nlohmann::json::parse(r.output).at("segments");
  double want = 0;
  for (const auto& s : expected) want += (s[1].get<double>() - s[0].get<double>()) / 16000.0;
  EXPECT_NEAR(static_cast<double>(got.size()), static_cast<double>(expected.size()), 1.0);
  EXPECT_NEAR(speech_seconds(got), want, 0.05 * want);
  EXPECT_NEAR(got[0].at("start").get<double>(), expected[0][0].get<double>() / 16000.0, 0.1);
}

TEST(CmdVad, ErrorsAreOneClearLine) {
  const auto wav = quoted(vad_fixture("speech_human_16k.wav"));
  // A truncated ONNX file.
  const auto bad = std::filesystem::temp_directory_path() / "earshot_vad_cmd_bad.onnx";
  {
    std::ifstream in(vad_fixture("silero_vad.onnx"), std::ios::binary);
    std::vector<char> head(100000);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(bad, std::ios::binary)
        .write(head.data(), static_cast<std::streamsize>(head.size()));
  }
  auto r = run("vad --vad-model " + quoted(bad) + " " + wav + " 2>&1");
  std::filesystem::remove(bad);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  // An audio file that is not audio.
  r = run("vad --vad-model " + quoted(vad_fixture("silero_vad.onnx")) + " " +
          quoted(vad_fixture("README.md")) + " 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("README.md"), std::string::npos) << r.output;
  // Missing model, bad threshold: refused by the option parser.
  r = run("vad --vad-model /nonexistent.onnx " + wav + " 2>&1");
  EXPECT_NE(r.status, 0);
  r = run("vad --vad-model " + quoted(vad_fixture("silero_vad.onnx")) + " " + wav +
          " --threshold 2 2>&1");
  EXPECT_NE(r.status, 0);
}

}  // namespace
}  // namespace earshot::test::vad
