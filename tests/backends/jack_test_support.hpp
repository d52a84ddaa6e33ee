// A private JACK server for one test (jackd -d dummy: no sound card), and two tiny clients that
// play a known signal and record what comes back, timestamped with JACK's frame clock.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <jack/jack.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace earshot::test {

// Starts `jackd --no-realtime --sync -d dummy -r RATE -p PERIOD` as server "earshot-test"
// (JACK_DEFAULT_SERVER is set for this process and inherited by children, so a user's own JACK
// server is never touched). Stops it (SIGTERM, then SIGKILL) on destruction.
//
// One such server at a time per machine: the constructor takes an flock that parallel tests
// (ctest -j) queue on. Why not a fresh name per test: libjack's shm registry has 8 server slots
// and reclaims a dead server's slot only when a server of the SAME name starts again, so tests
// that SIGKILL their server would leak slots until no server can start ("Too many servers").
// Why not a pool of names: with two dummy servers running, clients opened during the other
// test's server kill intermittently failed with jack status 0x21 (server communication error).
// --no-realtime: containers and CI runners often refuse SCHED_FIFO. --sync: the cycle waits for
// every client, so a late client on a loaded machine delays the cycle instead of shifting one
// client's data by a period (the default asynchronous mode would, and exact tests would flake).
// --timeout 10000: a sanitizer build may be slow without being thrown out of the graph.
class JackServer {
 public:
  JackServer(int rate = 48000, int period = 256) {
    claim_name();
    if (name_.empty()) return;
    remove_leftovers();
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
    if (ready_) std::remove(log_.c_str());  // kept for diagnosis when the server never came up
    if (lock_fd_ >= 0) ::close(lock_fd_);   // releases the name
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
  // A server killed with SIGKILL leaves its sockets and client semaphores in JACK's tmpdir;
  // the next server of the same name would fail to create a client's semaphore again
  // (jack status 0x21). We hold the name's lock, so nothing of that name is alive.
  void remove_leftovers() const {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
      const std::string file = entry.path().filename().string();
      const bool socket = file.rfind("jack_" + name_ + "_", 0) == 0;
      const bool semaphore =
          file.rfind("jack_sem.", 0) == 0 && file.find("_" + name_ + "_") != std::string::npos;
      if (socket || semaphore) std::filesystem::remove(entry.path(), ec);
    }
  }

  // Waits (up to 5 minutes) until no other test runs a server, then takes the name.
  void claim_name() {
    const int fd = ::open("/tmp/earshot-jack-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        lock_fd_ = fd;
        name_ = "earshot-test";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::close(fd);
  }

  std::string name_, log_;
  int lock_fd_ = -1;
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
