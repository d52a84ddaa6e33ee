// Plays a live stream of EnCodec code frames (a text-to-speech process piping codes in) through
// any rt/backends backend: the processor behind `earshot codec play`.
//
//   reader thread  (blocking reads are fine here): CodeFrameReader -> bounded code queue
//   worker thread  "earshot-codec": StreamingDecoder (+ soxr to the device rate) -> audio ring
//   audio callback "earshot-rt": audio ring -> device; silence when the ring is short
//
// Why latency cannot grow: the audio ring and the code queue are bounded, and a period the ring
// cannot fill is played as silence instead of being owed. After a gap, audio that arrives plays
// as soon as the jitter buffer (buffer_ms of audio) has filled again, so at most buffer_ms (plus
// a period) stands in front of it however long the gap was. A producer that runs ahead is held
// back by the full queue (the pipe stops draining), not by a growing buffer here.
//
// Accounting, in device frames:
//   - start delay: from the period in which the first code frame arrived to the first audible
//     sample (the decoder's start wait of 6 frames + the jitter buffer);
//   - late: once audio has started and until the stream has ended, every frame of silence played
//     because codes had not arrived (late_silence_frames), and every time the ring ran dry
//     (late_events). The audio itself is never altered: the output is the decoded audio with
//     silence inserted exactly where it was missing.
//   - end: when the input ends the worker flushes the decoder and the resampler; the callback
//     plays everything, then done() is true and end_frame() is the frame after the last sample.
//
// Real-time rule: process() only reads atomics, copies out of the ring, and posts the worker's
// semaphore. Every buffer is allocated in the constructor (the decoder's state from the budget).
#pragma once

#include "models/encodec/code_stream.hpp"
#include "models/encodec/encodec_model.hpp"
#include "models/encodec/streaming_decoder.hpp"
#include "rt/backends/audio_backend.hpp"
#include "rt/backends/stream_resampler.hpp"
#include "rt/memory_budget.hpp"
#include "rt/ring_buffer.hpp"
#include "rt/semaphore.hpp"
#include "rt/worker_thread.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace earshot::codec {

struct CodecPlayerOptions {
  int n_q = 8;                             // codebooks per frame
  double output_rate = 24000;              // the backend's sample rate
  std::uint32_t output_channels = 1;       // model channel c % model channels goes to channel c
  std::uint32_t max_period_frames = 4096;  // the largest callback the backend may make
  double buffer_ms = 80;                   // jitter buffer: audio gathered before (re)starting
  std::int64_t queue_frames = 64;          // code frames the reader may hold ahead of the decoder
  std::int64_t frames_per_decode = 4;      // most code frames one decoder push takes
};

struct CodecPlayStats {
  std::int64_t frames_received = 0;       // code frames parsed
  std::int64_t frames_delivered = 0;      // code frames whose audio is in the ring (or played)
  std::uint64_t frames_played = 0;        // device frames output, silence included
  std::uint64_t audio_frames_played = 0;  // of those, decoded audio
  std::uint64_t late_events = 0;
  std::uint64_t late_silence_frames = 0;
  std::int64_t start_delay_frames = -1;  // -1 until the first audio
};

class CodecPlayer final : public rt::AudioProcessor {
 public:
  // Throws std::invalid_argument for a model the streaming decoder cannot run (48 kHz) or bad
  // options; BudgetExceeded when the decoder's state does not fit.
  CodecPlayer(const encodec::EncodecModel& model, rt::MemoryBudget& budget,
              CodecPlayerOptions options);
  ~CodecPlayer() override;
  CodecPlayer(const CodecPlayer&) = delete;
  CodecPlayer& operator=(const CodecPlayer&) = delete;

  // Starts the reader thread on `fd` (kept open by the caller until stop()/destruction).
  void start_reading(int fd, encodec::FrameFraming framing, std::string label);
  // Stops the reader (within ~50 ms even if the producer keeps the pipe open) and the worker.
  void stop();
  // Async-signal-safe (one lock-free store): asks the reader to stop waiting for input and
  // wait_until_caught_up() to return; stop() does the rest. For a Ctrl-C handler.
  void request_stop() noexcept { stop_.store(true, std::memory_order_release); }

  void process(const float* const* in, float* const* out, std::uint32_t frames) noexcept override;
  // For clocks that are not real time: waits until the next period can be filled from the ring
  // (or the stream is complete, or something failed), so an offline run never plays silence.
  void wait_until_caught_up() noexcept override;

  // Every decoded sample has been played.
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Device frame just after the last audio sample; valid once done().
  std::uint64_t end_frame() const { return end_frame_.load(std::memory_order_acquire); }
  // The input has ended and all its audio is in the ring.
  bool complete() const { return complete_.load(std::memory_order_acquire); }
  // The reader hit bad input (the audio before it still plays) or the worker failed.
  bool failed() const;
  // The worker stopped on an error: the stream will never complete.
  bool decoder_failed() const { return worker_ && worker_->failed(); }
  // One line saying what went wrong (empty if nothing).
  std::string error() const;

  CodecPlayStats stats() const;
  std::uint32_t buffer_frames() const { return threshold_; }
  std::int64_t start_delay_code_frames() const { return decoder_.start_delay_frames(); }
  double output_rate() const { return options_.output_rate; }

 private:
  void read_loop(int fd, encodec::FrameFraming framing, std::string label);
  void work();  // worker: decode what has arrived, as far as the ring has room
  void decode(std::int64_t frames);
  void stage(std::int64_t samples, bool last);
  void set_error(const std::string& message);

  CodecPlayerOptions options_;
  int channels_;  // model channels (interleaved in the ring)
  int codebook_size_;
  encodec::StreamingDecoder decoder_;
  std::unique_ptr<rt::StreamResampler> resampler_;  // null when the rates agree
  std::size_t max_staged_frames_;  // device-rate frames one decoder push (or the end) can give
  std::uint32_t threshold_;        // jitter buffer in device frames
  rt::SpscRing<std::int32_t> codes_;
  rt::SpscRing<float> audio_;

  // Worker-only state.
  std::vector<std::int32_t> block_;
  std::vector<float> decoded_;
  std::vector<float> staged_;
  std::size_t staged_pos_ = 0, staged_end_ = 0;
  std::int64_t frames_decoded_ = 0;
  bool finished_ = false;

  // Audio-thread-only state.
  bool buffering_ = true;
  bool started_ = false;
  std::uint64_t played_ = 0;
  std::uint32_t last_period_ = 0;

  // Shared.
  std::atomic<bool> input_done_{false}, complete_{false}, done_{false}, stop_{false};
  std::atomic<bool> reader_failed_{false};
  std::atomic<std::int64_t> frames_received_{0}, frames_delivered_{0};
  std::atomic<std::int64_t> first_code_at_{-1}, start_delay_{-1};
  std::atomic<std::uint64_t> frames_played_{0}, audio_played_{0};
  std::atomic<std::uint64_t> late_events_{0}, late_silence_{0}, end_frame_{0};
  rt::Semaphore queue_space_;       // posted by the worker when it takes codes
  rt::Semaphore progress_;          // posted by the worker when it has written audio or finished
  mutable std::mutex error_mutex_;  // reader/worker/control threads only, never the callback
  std::string error_;

  std::unique_ptr<rt::WorkerThread> worker_;  // last but one: runs work() on the members above
  std::thread reader_;
};

}  // namespace earshot::codec
