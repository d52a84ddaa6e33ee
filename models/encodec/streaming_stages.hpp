// The stateful pieces of the streaming decoder (see streaming_decoder.hpp for the contract).
// Each stage takes a block of time-major rows and writes the rows it can now determine; all
// buffers are reserved from the MemoryBudget in prepare(), so process() allocates nothing.
#pragma once

#include "models/encodec/layers.hpp"
#include "models/encodec/seanet.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace earshot::encodec {

// A causal, stride-1 Conv1d: keeps its last P = effective_kernel - 1 input rows. At the stream
// start it holds rows until row P arrives, then reflect-pads exactly as the reference does.
class StreamingConv {
 public:
  void prepare(const Conv1d& conv, rt::MemoryBudget& budget, const std::string& name,
               std::int64_t max_in, rt::Parallel* parallel = nullptr);
  std::int64_t max_out() const { return pad_ + max_in_; }
  std::int64_t pad() const { return pad_; }
  // Takes n rows; on `final`, also releases what the start still held. Returns rows written.
  // `elu`: the layer's input is ELU(x) in that mode, applied as the rows are taken in.
  std::int64_t process(const float* x, std::int64_t n, bool final, float* y,
                       std::optional<EluMode> elu = std::nullopt);
  void reset();

 private:
  const Conv1d* conv_ = nullptr;
  rt::Parallel* parallel_ = nullptr;
  std::int64_t pad_ = 0;
  std::int64_t max_in_ = 0;
  models::Tensor buffer_;  // [2 * pad + max_in, in]: rows [0, pad) left context, then pending
  models::Tensor workspace_;
  std::int64_t pending_ = 0;
  bool started_ = false;
};

// ConvTranspose1d whose whole padding is trimmed on the right (causal). Stored by input or by
// output it keeps the overlap tail of its output; in the phase layout (kTiled) it keeps the
// previous input row instead (layers.hpp).
class StreamingConvTranspose {
 public:
  void prepare(const ConvTranspose1d& conv, rt::MemoryBudget& budget, const std::string& name,
               std::int64_t max_in, rt::Parallel* parallel = nullptr);
  std::int64_t max_out() const { return max_in_ * conv_->stride; }
  // The layer's input is ELU(x) (decoder mode); x is the caller's scratch and may be changed.
  std::int64_t process(float* x, std::int64_t n, float* y);
  void reset();

 private:
  const ConvTranspose1d* conv_ = nullptr;
  rt::Parallel* parallel_ = nullptr;
  std::int64_t max_in_ = 0;
  // Overlap layouts: [max_in * stride + kernel - stride, out], rows [0, tail) carried over.
  // Phase layout: [1 + max_in, in], row 0 the previous input (zeros at the start).
  models::Tensor acc_;
  models::Tensor workspace_;
};

class StreamingLstm {
 public:
  void prepare(const Lstm& lstm, rt::MemoryBudget& budget, const std::string& name,
               std::int64_t max_in, rt::Parallel* parallel = nullptr);
  std::int64_t process(const float* x, std::int64_t n, float* y);
  void reset();

 private:
  const Lstm* lstm_ = nullptr;
  rt::Parallel* parallel_ = nullptr;
  models::Tensor h_, c_, workspace_;
};

// Residual block: shortcut (kernel 1) + ELU -> conv k (streaming) -> ELU -> conv 1. The shortcut
// rows wait in a FIFO until the branch has produced the matching rows.
class StreamingResidualBlock {
 public:
  void prepare(const ResidualBlock& block, rt::MemoryBudget& budget, const std::string& name,
               std::int64_t max_in, rt::Parallel* parallel = nullptr);
  std::int64_t max_out() const { return conv1_.max_out(); }
  std::int64_t process(const float* x, std::int64_t n, bool final, float* y);
  void reset();

 private:
  const ResidualBlock* block_ = nullptr;
  rt::Parallel* parallel_ = nullptr;
  int channels_ = 0;
  StreamingConv conv1_;
  models::Tensor branch_;    // [max_out, C / compress]
  models::Tensor shortcut_;  // [max_out, C]: FIFO of shortcut rows not yet matched
  models::Tensor workspace_;
  std::int64_t fifo_rows_ = 0;
};

// A causal strided Conv1d (the encoder's downsampling, kernel 2r, stride r): reflect padding of
// (effective kernel - stride) rows on the left at the start, and at the end the reference's
// extra right padding (reflection of the last rows, completing the last stride). Output t is
// determined once input row t * stride + kernel - pad - 1 has arrived.
class StreamingStridedConv {
 public:
  void prepare(const Conv1d& conv, rt::MemoryBudget& budget, const std::string& name,
               std::int64_t max_in, rt::Parallel* parallel = nullptr);
  std::int64_t max_out() const;
  std::int64_t pad() const { return pad_; }
  // Takes n rows; on `final` the stream ends after them (the input must then have more than
  // `pad` rows in all: shorter streams are the caller's to encode offline). Returns rows written.
  std::int64_t process(const float* x, std::int64_t n, bool final, float* y);
  void reset();

 private:
  const Conv1d* conv_ = nullptr;
  rt::Parallel* parallel_ = nullptr;
  std::int64_t pad_ = 0;
  std::int64_t max_in_ = 0;
  std::int64_t capacity_ = 0;
  models::Tensor buffer_;  // padded rows not yet consumed (before the start: raw rows at `pad`)
  std::int64_t rows_ = 0;  // padded rows held (started) or raw rows held (not started)
  std::int64_t total_in_ = 0;
  bool started_ = false;
};

}  // namespace earshot::encodec
