// `earshot stems --jack`: live stem separation as the JACK client `earshot-stems`.
//
// Ports: in_L, in_R; <source>_L, <source>_R for every source of the model (4 or 6).
//
//   JACK thread:  in_L/in_R ──copy──► input ring ──► worker ──► output ring ──copy──► stems
//   worker:       ChunkedSeparator (demucs' apply_model overlap-add over the endless stream)
//
// The audio thread only copies (no allocation, no lock, no wait; tests prove it with the
// audio-thread guard). The worker runs the chunked overlap-add on the stream and appends the
// final stem frames to the output ring.
//
// Latency, exactly (frames at the model's rate):
//     D = L + stride + margin,      L = segment, stride = int((1 - overlap) * L)
// Why: stem frame n lies in the final region [k*stride, (k+1)*stride) of chunk k, which can
// only run once input frame k*stride + L - 1 has arrived. The worst frame, n = k*stride, thus
// waits L frames for its input, and then the chunk's computation. A worker that keeps up in
// real time spends at most `stride` frames of time per chunk (it must finish one chunk per
// stride), so L + stride covers input and computation; `margin` absorbs the period
// granularity on both sides (input arrives, output leaves, a period at a time) and scheduling
// jitter. Default margin: 2 periods + 50 ms. The output ring is primed with D frames of silence
// before the client is activated, so output frame t is exactly stem frame t - D of the input
// stream (t counted from the node's first cycle); D is published through JACK's latency API.
//
// If the worker falls behind, the frames it has not delivered in time go out as silence and
// are counted (late_frames()); when they arrive later they are dropped, so the delay stays D.
// If the input ring overflows (worker far behind), the missing input is replaced by zeros, in
// place, so the stream's timing is kept; counted in dropped_input_frames().
//
// Sample rate: the model separates at its rate (44.1 kHz). A server at another rate (48 kHz
// is common) is served by resampling on the worker (libsoxr HQ, dsp::Resampler): input from
// the server's rate to the model's, stems back. Both resamplers are time-aligned (soxr trims
// its own filter delay), so only WHEN their output is available changes: they hold back a few
// hundred frames. That is measured at construction (a dry run with silence in the block sizes
// the worker uses; soxr's counts never depend on the signal) and added to the latency:
//     D = ceil((L + stride) * jack / model) + held back (down, in JACK frames) + held back (up)
//         + margin
// and D is what JACK is told, in the server's frames.
//
// Server shutdown: server_gone() turns true with shutdown_message(); the owner stops and
// exits. Nothing blocks on the server.
#pragma once

#include "dsp/resampler.hpp"
#include "models/htdemucs/separator.hpp"
#include "rt/backends/jack_backend.hpp"
#include "rt/memory_budget.hpp"
#include "rt/ring_buffer.hpp"
#include "rt/worker_thread.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace earshot::stems {

struct LiveStemsOptions {
  std::string client_name = "earshot-stems";
  std::int64_t segment = 0;      // frames per chunk; 0: the model's training length
  double overlap = 0.25;         // in [0, 1)
  std::int64_t margin = -1;      // processing margin in JACK frames; -1: 2 periods + 50 ms
  double margin_seconds = -1.0;  // >= 0: the margin in seconds instead (any server rate)
};

class LiveStemsNode : private rt::AudioProcessor {
 public:
  // Opens the JACK client and reserves everything (rings, separator) from `budget`. Does not
  // activate. Throws rt::BackendError (no server) or std::invalid_argument.
  LiveStemsNode(htdemucs::ModelBag& bag, const LiveStemsOptions& options, rt::MemoryBudget& budget);
  ~LiveStemsNode() override;

  void start();
  // Deactivates the client, then stops the worker. Idempotent.
  void stop();

  std::uint32_t latency_frames() const { return latency_; }
  std::int64_t segment() const { return separator_->segment(); }
  std::int64_t stride() const { return separator_->stride(); }
  std::int64_t margin() const { return margin_; }  // JACK frames
  int rate() const { return rate_; }               // the JACK server's
  bool resampling() const { return down_ != nullptr; }
  // Frames the two resamplers hold back (JACK frames; part of latency_frames()).
  std::int64_t resampler_delay() const { return resampler_delay_; }
  const rt::JackBackend& client() const { return *client_; }

  // JACK frame time of the node's first cycle: its stream frame 0 (valid once started()).
  bool started() const { return started_.load(std::memory_order_acquire); }
  std::uint32_t origin_frame() const { return origin_; }

  std::uint64_t late_frames() const { return late_.load(std::memory_order_relaxed); }
  std::uint64_t dropped_input_frames() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t chunks_done() const { return chunks_.load(std::memory_order_acquire); }
  // Stem frames the worker has delivered so far.
  std::uint64_t frames_separated() const { return separated_.load(std::memory_order_acquire); }
  bool server_gone() const { return client_->failed(); }
  // "the JACK server shut down (reason)"; empty while the server is there.
  std::string shutdown_message() const { return client_->finish_message(); }
  // Rethrows an exception the worker hit.
  void rethrow_if_failed() const { worker_->rethrow_if_failed(); }

 private:
  void process(const float* const* in, float* const* out, std::uint32_t frames) noexcept override;
  void work();  // worker thread

  int sources_ = 0, out_channels_ = 0;
  std::unique_ptr<rt::JackBackend> client_;
  std::unique_ptr<htdemucs::ChunkedSeparator> separator_;
  std::int64_t margin_ = 0, resampler_delay_ = 0;
  std::uint32_t latency_ = 0;
  int rate_ = 0;
  std::unique_ptr<dsp::Resampler> down_, up_;  // JACK -> model rate, model -> JACK rate
  rt::Reservation model_in_, up_out_;          // their outputs
  std::size_t model_in_frames_ = 0, up_out_frames_ = 0;
  std::size_t fifo_pos_ = 0, fifo_count_ = 0;  // model-rate input frames not yet pushed

  rt::Reservation in_storage_, out_storage_, in_scratch_, out_scratch_;
  std::unique_ptr<rt::SpscRing<float>> in_ring_;   // [frames][2]
  std::unique_ptr<rt::SpscRing<float>> out_ring_;  // [frames][sources * 2]
  std::size_t scratch_frames_ = 0;

  // Audio-thread state.
  std::uint64_t zero_debt_ = 0;  // input frames dropped, still to be replaced by zeros
  std::uint64_t late_debt_ = 0;  // output frames played as silence, to drop when they arrive
  std::uint32_t origin_ = 0;
  std::atomic<bool> started_{false};

  std::atomic<std::uint64_t> late_{0}, dropped_{0}, chunks_{0}, separated_{0};
  std::atomic<bool> stopping_{false};
  bool active_ = false;
  std::unique_ptr<rt::WorkerThread> worker_;  // last: its thread sees every member above
};

}  // namespace earshot::stems
