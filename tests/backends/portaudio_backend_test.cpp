// PortAudio: listing, selection errors, and a real stream through PortAudio's JACK host API
// (a private jackd -d dummy stands in for a sound card).
#include "rt/backends/portaudio_backend.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "tests/backends/jack_test_support.hpp"

#include <gtest/gtest.h>

namespace earshot::rt {
namespace {

TEST(PortAudio, MissingDevicesAreOneClearError) {
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  const std::vector<PortAudioDevice> devices = list_portaudio_devices();
  for (const std::string& spec : {std::string("no such device xyz"), std::string("987654")}) {
    try {
      find_portaudio_device(spec, DeviceDirection::Output);
      FAIL() << "found a device for '" << spec << "'";
    } catch (const BackendError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(spec), std::string::npos) << what;
      EXPECT_NE(what.find("earshot devices"), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  PortAudioOptions options;
  options.output_device = "no such device xyz";
  PortAudioBackend backend(options);
  EXPECT_THROW(backend.open(StreamConfig{}), BackendError);
}

TEST(PortAudio, StreamsThroughTheJackHostApi) {
  test::JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  const std::vector<PortAudioDevice> devices = list_portaudio_devices();
  int jack_devices = 0;
  for (const PortAudioDevice& d : devices) {
    EXPECT_FALSE(d.name.empty());
    if (d.host_api.find("JACK") != std::string::npos) ++jack_devices;
  }
  ASSERT_GT(jack_devices, 0) << "PortAudio sees no JACK device although a server runs";

  PortAudioOptions options;
  options.input_device = options.output_device = "system";
  PortAudioBackend backend(options);
  StreamConfig sc;
  sc.sample_rate = 48000;
  sc.period_frames = 256;
  sc.input_channels = 1;
  sc.output_channels = 2;
  backend.open(sc);
  EXPECT_NE(backend.output_device().host_api.find("JACK"), std::string::npos);
  PassThroughNode node(256);
  PipelineConfig pc;
  pc.output_channels = 2;
  RingPipeline pipeline(node, pc);
  pipeline.start();
  backend.start(pipeline);
  EXPECT_TRUE(test::wait_for([&] { return pipeline.stats().callbacks > 5; }, 10.0));
  guard::reset();  // from here on: steady-state callbacks only
  const std::uint64_t before = pipeline.stats().callbacks;
  EXPECT_TRUE(test::wait_for([&] { return pipeline.stats().callbacks > before + 20; }, 10.0));
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  backend.stop();
  pipeline.stop();
  EXPECT_FALSE(backend.failed());
  EXPECT_GE(pipeline.stats().frames_in, 20u * 256u);
}

}  // namespace
}  // namespace earshot::rt
