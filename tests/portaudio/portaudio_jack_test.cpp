// The PortAudio paths of the commands (`codec play` to a sound card, `caption` from a
// microphone), end to end, on a machine without a sound card.
//
// PortAudio is built with a JACK host API, so against a private `jackd -d dummy` server
// (tests/backends/jack_test_support.hpp) the default PortAudio device is the JACK graph: the
// command opens a client "PortAudio" with ports out_0 / in_0, paced by the server's clock like
// a real card. A test client records what the command plays, or plays speech into what it
// captures. The server runs at the model's rate, so nothing is resampled and the recording can
// be compared sample for sample.
#include "dsp/audio_file.hpp"
#include "tests/backends/jack_test_support.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/codec_play/play_test_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

namespace earshot::test {
namespace {

using codec::test::first_nonzero;
using codec::test::kFrames;
using codec::test::reference;

// Waits until the command's PortAudio client has registered `port` ("PortAudio:out_0").
bool wait_for_port(jack_client_t* client, const char* port) {
  return wait_for([&] { return jack_port_by_name(client, port) != nullptr; }, 60);
}

// A FIFO the test writes codes into only once the recorder is connected and the command has
// opened the FIFO, so no audio can play before it is listening. The test keeps it open
// read-write, so opening never blocks, and close-on-exec, so the command holds no writer end and
// sees the stream end when the test closes.
class CodeFifo {
 public:
  CodeFifo() : path_("/tmp/earshot-pa-codes-" + std::to_string(::getpid())) {
    std::remove(path_.c_str());
    if (::mkfifo(path_.c_str(), 0600) == 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  }
  ~CodeFifo() {
    close();
    std::remove(path_.c_str());
  }
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  bool write(const std::string& bytes) {
    return ::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(PortAudioThroughJack, CodecPlayDeliversTheOfflineDecode) {
  const auto& ref = reference();
  JackServer server(24000, 256);
  ASSERT_TRUE(server.ready()) << "see " << server.log_path();
  CodeFifo fifo;
  ASSERT_TRUE(fifo.ok());
  Subprocess run({earshot_binary(), "codec", "play", "--model", codec::test::model_dir().string(),
                  "--codes", fifo.path(), "--channels", "1", "--buffer-ms",
                  "2000"});  // 2 s ahead: a loaded machine never runs dry

  TestJackClient recorder("pa-recorder", TestJackClient::Role::Recorder, {},
                          ref.audio.size() + 2 * 24000);
  ASSERT_TRUE(recorder.ok());
  ASSERT_TRUE(wait_for_port(recorder.client(), "PortAudio:out_0")) << run.err();
  ASSERT_EQ(jack_connect(recorder.client(), "PortAudio:out_0", recorder.port_name().c_str()), 0);
  recorder.arm();
  ASSERT_TRUE(wait_for([&] { return recorder.started(); }, 10));
  // The command opens the FIFO only after its stream is open (it prints the line below then).
  // Closing our end before it has opened would discard the codes and leave its open() waiting
  // for a writer forever: on a loaded machine that race made this test time out.
  ASSERT_TRUE(wait_for(
      [&] { return run.err().find("earshot codec play: PortAudio") != std::string::npos; }, 60))
      << run.err();

  ASSERT_TRUE(fifo.write(ref.i16_bytes(0, kFrames)));
  fifo.close();
  ASSERT_EQ(run.wait(120), 0) << run.err();
  ASSERT_TRUE(wait_for([&] { return recorder.done(); }, 30));

  const std::string err = run.err();
  std::printf("%s", err.c_str());
  EXPECT_NE(err.find("PortAudio device 'system' at 24000 Hz, 1 channel(s)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("313 frames"), std::string::npos) << err;
  EXPECT_NE(err.find("late: 0 events"), std::string::npos) << err;

  const auto& rec = recorder.recording();
  const std::size_t r0 = first_nonzero(rec.data(), rec.size());
  const std::size_t a0 = first_nonzero(ref.audio.data(), ref.audio.size());
  ASSERT_GE(r0, a0) << "nothing was recorded";
  const std::size_t start = r0 - a0;
  ASSERT_LE(start + ref.audio.size(), rec.size()) << "the recording missed the end";
  const float diff =
      codec::test::max_abs_diff(rec.data() + start, ref.audio.data(), ref.audio.size());
  std::printf("PortAudio recording vs offline decode: max |diff| %.3g\n", diff);
  EXPECT_LE(diff, 1e-5f);
}

// `caption --input mic` through PortAudio. Whisper's weights are random, so the text means
// nothing; what is checked is that the microphone's audio reaches the node: with the VAD gate,
// Whisper runs only on confirmed speech, so speech played into the port yields passes and an
// utterance, and an idle port (the dummy server's silence) yields none.
struct CaptionRun {
  int status = -1;
  std::string err;
  int passes = -1;
  double audio_seconds = -1, dropped_seconds = -1;
};

CaptionRun caption_from_microphone(bool play_speech) {
  CaptionRun result;
  JackServer server(16000, 256);
  EXPECT_TRUE(server.ready()) << "see " << server.log_path();
  if (!server.ready()) return result;
  // The first 5 s of the Silero fixture's recording: speech at 0-2.0 s and 2.7-4.7 s.
  std::vector<float> speech =
      dsp::read_audio_mono_16k(fixture("silero-vad/speech_human_16k.wav")).samples;
  speech.resize(5 * 16000);
  TestJackClient player("pa-speaker", TestJackClient::Role::Player, speech);
  EXPECT_TRUE(player.ok());

  Subprocess run({earshot_binary(), "caption", "--input", "mic", "--model",
                  fixture("whisper/tiny-random").string(), "--tokenizer",
                  fixture("whisper/tokenizer/hf-multilingual-99").string(), "--vad-model",
                  fixture("silero-vad/silero_vad.onnx").string(), "--language", "en", "--format",
                  "jsonl", "--threads", "1"});
  EXPECT_TRUE(wait_for_port(player.client(), "PortAudio:in_0")) << run.err();
  if (play_speech) {
    EXPECT_EQ(jack_connect(player.client(), player.port_name().c_str(), "PortAudio:in_0"), 0);
  }
  player.arm();
  EXPECT_TRUE(wait_for([&] { return player.done(); }, 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the utterance's end is heard
  run.signal(SIGINT);
  result.status = run.wait(120);
  result.err = run.err();
  const auto at = result.err.find("Whisper ");
  if (at != std::string::npos) {
    double whisper_seconds = 0;
    std::sscanf(result.err.c_str() + at, "Whisper %lf s in %d passes", &whisper_seconds,
                &result.passes);
  }
  std::sscanf(result.err.c_str(), "earshot caption: %lf s of audio", &result.audio_seconds);
  const auto dropped = result.err.find("dropped audio ");
  if (dropped != std::string::npos) {
    std::sscanf(result.err.c_str() + dropped, "dropped audio %lf s", &result.dropped_seconds);
  }
  std::printf("caption from the %s microphone: %.2f s of audio, %d passes, %.2f s dropped\n",
              play_speech ? "speaking" : "silent", result.audio_seconds, result.passes,
              result.dropped_seconds);
  return result;
}

TEST(PortAudioThroughJack, CaptionHearsSpeechFromTheMicrophone) {
  const CaptionRun r = caption_from_microphone(true);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(r.audio_seconds, 5.0) << r.err;  // everything the speaker played was captured
  EXPECT_EQ(r.dropped_seconds, 0.0) << r.err;
  EXPECT_GE(r.passes, 1) << r.err;
}

TEST(PortAudioThroughJack, CaptionOfASilentMicrophoneRunsNoPass) {
  const CaptionRun r = caption_from_microphone(false);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(r.audio_seconds, 5.0) << r.err;
  EXPECT_EQ(r.dropped_seconds, 0.0) << r.err;
  EXPECT_EQ(r.passes, 0) << r.err;
}

}  // namespace
}  // namespace earshot::test
