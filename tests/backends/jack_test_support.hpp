// A private JACK server for one test (jackd -d dummy: no sound card), and two tiny clients that
// play a known signal and record what comes back, timestamped with JACK's frame clock.
#pragma once

#include <gtest/gtest.h>
#include <jack/jack.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace earshot::test {

// Starts `jackd --no-realtime --sync -d dummy -r RATE -p PERIOD` under a server name unique to
// this process and test (JACK_DEFAULT_SERVER is set for this process and inherited by children),
// so parallel tests never share a server. Stops it (SIGTERM, then SIGKILL) on destruction.
// --no-realtime: containers and CI runners often refuse SCHED_FIFO. --sync: the cycle waits for
// every client, so a late client on a loaded machine delays the cycle instead of shifting one
// client's data by a period (the default asynchronous mode would, and exact tests would flake).
// --timeout 10000: a sanitizer build may be slow without being thrown out of the graph.
class JackServer {
 public:
  JackServer(int rate = 48000, int period = 256) {
    static int counter = 0;
    name_ = "earshot-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    ::setenv("JACK_DEFAULT_SERVER", name_.c_str(), 1);
    ::setenv("JACK_NO_AUDIO_RESERVATION", "1", 1);
    log_ = "/tmp/" + name_ + ".log";
    const std::string r = std::to_string(rate), p = std::to_string(period);
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_.c_str(), "w");
      if (log != nullptr) {
        ::dup2(fileno(log), 1);
        ::dup2(fileno(log), 2);
      }
      ::execlp("jackd", "jackd", "--no-realtime", "--sync", "--timeout", "10000", "-d", "dummy",
               "-r", r.c_str(), "-p", p.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    // Ready when a client can connect (libjack complains on stderr until then: keep it quiet).
    jack_set_error_function([](const char*) {});
    jack_set_info_function([](const char*) {});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      jack_status_t status{};
      jack_client_t* probe = jack_client_open("probe", JackNoStartServer, &status);
      if (probe != nullptr) {
        jack_client_close(probe);
        ready_ = true;
        break;
      }
      int wstatus = 0;
      if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~JackServer() {
    kill(SIGTERM);
    std::remove(log_.c_str());
  }
  JackServer(const JackServer&) = delete;
  JackServer& operator=(const JackServer&) = delete;

  bool ready() const { return ready_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_; }

  // Sends `sig` and waits for the server to exit (SIGKILL after 5 s).
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string name_, log_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

// One JACK client with one audio port. As a player it writes `signal` once, starting in the
// first cycle after arm(); as a recorder it stores `capacity` frames starting in the first cycle
// after arm(). Both remember the JACK frame time of that cycle.
class TestJackClient {
 public:
  enum class Role { Player, Recorder };
  TestJackClient(const std::string& name, Role role, std::vector<float> signal,
                 std::size_t capacity = 0)
      : role_(role), signal_(std::move(signal)), recording_(capacity, 0.0f) {
    jack_status_t status{};
    client_ = jack_client_open(name.c_str(), JackNoStartServer, &status);
    if (client_ == nullptr) return;
    port_ =
        jack_port_register(client_, role == Role::Player ? "out" : "in", JACK_DEFAULT_AUDIO_TYPE,
                           role == Role::Player ? JackPortIsOutput : JackPortIsInput, 0);
    jack_set_process_callback(client_, &process, this);
    jack_activate(client_);
  }
  ~TestJackClient() {
    if (client_ != nullptr) {
      jack_deactivate(client_);
      jack_client_close(client_);
    }
  }
  bool ok() const { return client_ != nullptr && port_ != nullptr; }
  jack_client_t* client() const { return client_; }
  std::string port_name() const { return jack_port_name(port_); }
  jack_port_t* port() const { return port_; }

  void arm() { armed_.store(true); }
  bool started() const { return started_.load(); }
  bool done() const { return done_.load(); }
  jack_nframes_t start_frame() const { return start_frame_; }
  const std::vector<float>& recording() const { return recording_; }

 private:
  static int process(jack_nframes_t frames, void* arg) {
    auto* self = static_cast<TestJackClient*>(arg);
    float* buffer = static_cast<float*>(jack_port_get_buffer(self->port_, frames));
    if (self->armed_.load() && !self->started_.load()) {
      self->start_frame_ = jack_last_frame_time(self->client_);
      self->started_.store(true);
    }
    const std::vector<float>& source = self->signal_;
    for (jack_nframes_t i = 0; i < frames; ++i) {
      if (self->role_ == Role::Player) {
        const bool playing = self->started_.load() && self->position_ < source.size();
        buffer[i] = playing ? source[self->position_++] : 0.0f;
      } else if (self->started_.load() && self->position_ < self->recording_.size()) {
        self->recording_[self->position_++] = buffer[i];
      }
    }
    const std::size_t end = self->role_ == Role::Player ? source.size() : self->recording_.size();
    if (self->started_.load() && self->position_ >= end) self->done_.store(true);
    return 0;
  }

  Role role_;
  std::vector<float> signal_;
  std::vector<float> recording_;
  jack_client_t* client_ = nullptr;
  jack_port_t* port_ = nullptr;
  std::atomic<bool> armed_{false}, started_{false}, done_{false};
  jack_nframes_t start_frame_ = 0;
  std::size_t position_ = 0;
};

// Polls `condition` every 10 ms for up to `seconds`.
template <typename F>
bool wait_for(F condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace earshot::test
