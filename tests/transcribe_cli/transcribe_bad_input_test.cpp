// The "Bad input" list, end to end through `earshot transcribe`: each case gives one
// clear error line (exit 1) or a safe result (exit 0), never a crash or a hang (every run has
// a time limit). Corrupted copies of fixture files live in a temporary directory.
#include "dsp/audio_file.hpp"
#include "models/whisper/whisper_mel_stream.hpp"
#include "models/whisper/whisper_transcribe.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace earshot::test::whisper {
namespace {
namespace fs = std::filesystem;
namespace ww = earshot::models::whisper;

class TranscribeBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("earshot_bad_input_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every run has a time limit: exit 124 means the command hung.
  CommandRun run(const std::string& args) const {
    return run_earshot("transcribe " + args, "timeout 300");
  }

  // Exit 1, nothing on stdout, exactly one line on stderr: "earshot transcribe: error: ..."
  // containing every needle.
  static void expect_one_line_error(const CommandRun& r,
                                    std::initializer_list<std::string> needles) {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("earshot transcribe: error: ", 0), 0u) << r.err;
    for (const auto& needle : needles) EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }

  // A copy of a fixture model directory to corrupt.
  fs::path copy_model(const std::string& name) const {
    const fs::path to = dir_ / name;
    fs::copy(model_dir(name), to, fs::copy_options::recursive);
    return to;
  }
  fs::path copy_tokenizer() const {
    const fs::path to = dir_ / "tokenizer";
    fs::copy(fixture("whisper/tokenizer/hf-multilingual-99"), to, fs::copy_options::recursive);
    return to;
  }

  static std::string tokenizer_arg() {
    return " --tokenizer " + fixture("whisper/tokenizer/hf-multilingual-99").string();
  }
  static std::string speech() { return " " + fixture("audio/speech_16k.wav").string(); }
  static std::string tiny() { return "--model " + model_dir("tiny-random").string(); }

  fs::path write_float_wav(const std::string& name, const std::vector<float>& samples) const {
    const fs::path path = dir_ / name;
    dsp::write_wav_atomic(path, samples, 1, 16000.0, dsp::WavEncoding::Float32);
    // write_wav_atomic stores NaN/Inf as 0: put the original float data back.
    if (samples.empty()) return path;  // nothing to put back (and no data pointer to write)
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    if (f == nullptr) throw std::runtime_error("cannot reopen " + path.string());
    const auto size = static_cast<long>(fs::file_size(path));
    std::fseek(f, size - static_cast<long>(samples.size() * sizeof(float)), SEEK_SET);
    std::fwrite(samples.data(), sizeof(float), samples.size(), f);
    std::fclose(f);
    return path;
  }

  // Exit 0 with a JSON transcript whose times lie inside the recording.
  static void expect_safe_json(const CommandRun& r, double seconds) {
    ASSERT_EQ(r.status, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    for (const auto& s : doc.at("segments")) {
      EXPECT_GE(s.at("start").get<double>(), 0.0);
      EXPECT_LE(s.at("end").get<double>(), seconds + 30.0);
      for (int t : s.at("tokens")) EXPECT_LT(t, 51865);
    }
  }

  fs::path dir_;
};

TEST_F(TranscribeBadInput, MissingTokenizerFiles) {
  fs::create_directories(dir_ / "empty");
  expect_one_line_error(run(tiny() + " --tokenizer " + (dir_ / "empty").string() + speech()),
                        {"tokenizer", "vocab.json", "empty"});
  // Neither vocab.json + merges.txt nor tokenizer.json: merges.txt alone is not enough.
  const fs::path tok = copy_tokenizer();
  fs::remove(tok / "merges.txt");
  fs::remove(tok / "tokenizer.json");
  expect_one_line_error(run(tiny() + " --tokenizer " + tok.string() + speech()), {"tokenizer"});
}

TEST_F(TranscribeBadInput, CorruptTokenizerFiles) {
  const fs::path tok = copy_tokenizer();
  // A truncated vocab.json (and no tokenizer.json to fall back on).
  fs::remove(tok / "tokenizer.json");
  fs::resize_file(tok / "vocab.json", 1000);
  expect_one_line_error(run(tiny() + " --tokenizer " + tok.string() + speech()),
                        {"vocab.json", "JSON"});
  // A tokenizer of the other vocabulary size (the 100-language one for a 99-language model).
  expect_one_line_error(run(tiny() + " --tokenizer " +
                            fixture("whisper/tokenizer/hf-multilingual-100").string() + speech()),
                        {"tokens"});
}

// With vocab.json + merges.txt broken but tokenizer.json intact, the command falls back to
// tokenizer.json: a safe, complete result.
TEST_F(TranscribeBadInput, BrokenMergesFallBackToTokenizerJson) {
  const fs::path tok = copy_tokenizer();
  fs::remove(tok / "merges.txt");
  const CommandRun r = run(tiny() + " --tokenizer " + tok.string() +
                           " --language en --max-tokens 8 --no-fallback --format json" + speech());
  expect_safe_json(r, 30.0);
}

TEST_F(TranscribeBadInput, ConfigShapesDisagreeWithWeights) {
  const fs::path model = copy_model("tiny-random");
  auto config = nlohmann::json::parse(std::ifstream(model / "config.json"));
  config["d_model"] = 64;
  std::ofstream(model / "config.json") << config.dump();
  expect_one_line_error(run("--model " + model.string() + tokenizer_arg() + speech()),
                        {"model.safetensors", "shape", "config.json"});
  config["d_model"] = 32;
  config["decoder_layers"] = 3;  // a layer the weights do not have
  std::ofstream(model / "config.json") << config.dump();
  expect_one_line_error(run("--model " + model.string() + tokenizer_arg() + speech()),
                        {"model.safetensors", "layers.2"});
}

TEST_F(TranscribeBadInput, TruncatedModelFile) {
  const fs::path model = copy_model("tiny-random");
  const auto size = fs::file_size(model / "model.safetensors");
  for (const auto keep : {size / 2, std::uintmax_t{100}, std::uintmax_t{5}}) {
    fs::resize_file(model / "model.safetensors", keep);
    expect_one_line_error(run("--model " + model.string() + tokenizer_arg() + speech()),
                          {"model.safetensors"});
  }
}

// v3-random is a 128-bin model. Through the command the features always follow the model's
// config, so the mismatch shows as a config saying 80 bins over 128-bin weights; through the
// API, 80-bin features (tiny-random's) are refused by name.
TEST_F(TranscribeBadInput, MelBinsDisagreeWithTheModel) {
  const fs::path model = copy_model("v3-random");
  auto config = nlohmann::json::parse(std::ifstream(model / "config.json"));
  config["num_mel_bins"] = 80;
  std::ofstream(model / "config.json") << config.dump();
  expect_one_line_error(run("--model " + model.string() + " --tokenizer " +
                            fixture("whisper/tokenizer/hf-multilingual-100").string() + speech()),
                        {"128", "80", "num_mel_bins"});

  rt::MemoryBudget budget(512u << 20);
  auto v3 = ww::WhisperModel::load(model_dir("v3-random"), budget);
  ASSERT_EQ(v3->config.n_mels, 128);
  ww::WhisperTranscriber transcriber(*v3, budget, 1);
  ww::TranscribeOptions o;
  o.decode.language = "en";
  o.decode.sample_len = 4;
  auto audio = refs("tiny-random").load_f32("audio");
  const auto mel80 = ww::whisper_log_mel_padded(audio, 80);
  const int frames80 = static_cast<int>(mel80.size() / 80);
  // The whole mel as [128, frames'] cannot be 80-bin data of the same length...
  EXPECT_THROW(transcriber.transcribe(mel80, frames80, o), std::invalid_argument);
  // ...and an 80-bin source (streamed from the file) is refused by its bin count.
  ww::WhisperMelStream stream(fixture("audio/speech_16k.wav"), 80);
  try {
    transcriber.transcribe(stream, o, [](ww::TranscriptSegment&&) {});
    ADD_FAILURE() << "80-bin features reached a 128-bin model";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("128-bin"), std::string::npos) << e.what();
  }
  // The encoder itself refuses them too.
  std::vector<float> features(static_cast<std::size_t>(v3->config.n_audio_ctx) *
                              v3->config.d_model);
  ww::WhisperEncoder encoder(*v3, budget);
  EXPECT_THROW(encoder.forward(mel80.data(), 80, 3000, features.data()), std::invalid_argument);
}

TEST_F(TranscribeBadInput, SilentAudioIsASafeResult) {
  const fs::path wav = write_float_wav("silent.wav", std::vector<float>(16000 * 40, 0.0f));
  expect_safe_json(run(tiny() + tokenizer_arg() +
                       " --language en --max-tokens 8 --no-fallback --format json " + wav.string()),
                   40.0);
  // No samples at all, and fewer than one frame.
  for (std::size_t n : {std::size_t{0}, std::size_t{100}}) {
    const fs::path tiny_wav = write_float_wav("short.wav", std::vector<float>(n, 0.1f));
    const CommandRun r =
        run(tiny() + tokenizer_arg() + " --language en --format json " + tiny_wav.string());
    expect_safe_json(r, 0.0);
    EXPECT_TRUE(nlohmann::json::parse(r.out).at("segments").empty()) << n << " samples";
  }
}

TEST_F(TranscribeBadInput, ClippedAudioIsASafeResult) {
  // A square wave at full scale stored as 16-bit PCM (every sample at the rails), 35 s.
  std::vector<float> square(16000 * 35);
  for (std::size_t i = 0; i < square.size(); ++i) square[i] = (i / 18) % 2 ? 1.0f : -1.0f;
  const fs::path wav = dir_ / "clipped.wav";
  dsp::write_wav_atomic(wav, square, 1, 16000.0, dsp::WavEncoding::Pcm16);
  expect_safe_json(run(tiny() + tokenizer_arg() +
                       " --language en --max-tokens 8 --no-fallback --format json " + wav.string()),
                   35.0);
  // Float samples far beyond full scale (1e3) still work; 1e30 overflows the spectrum and is
  // one clear error instead of NaN features.
  const fs::path loud = write_float_wav("loud.wav", std::vector<float>(16000 * 3, 1e3f));
  expect_safe_json(run(tiny() + tokenizer_arg() + " --language en --max-tokens 4 --format json " +
                       loud.string()),
                   3.0);
  std::vector<float> huge(16000 * 3);
  for (std::size_t i = 0; i < huge.size(); ++i) huge[i] = i % 2 ? 1e30f : -1e30f;
  const fs::path overflow = write_float_wav("overflow.wav", huge);
  expect_one_line_error(run(tiny() + tokenizer_arg() + " " + overflow.string()),
                        {"overflow.wav", "overflows"});
}

TEST_F(TranscribeBadInput, NaNAudioIsReadAsZeroWithAWarning) {
  auto speech_samples = refs("tiny-random").load_f32("audio");
  for (std::size_t i = 0; i < speech_samples.size(); i += 7) speech_samples[i] = NAN;
  speech_samples[5] = INFINITY;
  const fs::path some = write_float_wav("some_nan.wav", speech_samples);
  const CommandRun r =
      run(tiny() + tokenizer_arg() + " --language en --max-tokens 8 --no-fallback --format json " +
          some.string());
  expect_safe_json(r, 30.0);
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NaN/Inf samples"), std::string::npos) << r.err;
  // Entirely NaN: silence after the replacement.
  const fs::path all = write_float_wav("all_nan.wav", std::vector<float>(16000 * 5, NAN));
  const CommandRun r2 =
      run(tiny() + tokenizer_arg() + " --language en --max-tokens 8 --format srt " + all.string());
  EXPECT_EQ(r2.status, 0) << r2.err;
  EXPECT_NE(r2.err.find("80000 NaN/Inf samples"), std::string::npos) << r2.err;
}

TEST_F(TranscribeBadInput, UnknownLanguageCode) {
  expect_one_line_error(run(tiny() + tokenizer_arg() + " --language xx" + speech()),
                        {"unknown language", "xx"});
  expect_one_line_error(run(tiny() + tokenizer_arg() + " --language english" + speech()),
                        {"unknown language", "english"});
}

TEST_F(TranscribeBadInput, NotAnAudioFile) {
  const fs::path text = dir_ / "notes.wav";
  std::ofstream(text) << "not audio at all";
  expect_one_line_error(run(tiny() + tokenizer_arg() + " " + text.string()), {"notes.wav"});
}

}  // namespace
}  // namespace earshot::test::whisper
