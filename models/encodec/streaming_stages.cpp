#include "models/encodec/streaming_stages.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace earshot::encodec {
namespace {
models::Tensor reserve(rt::MemoryBudget& budget, const std::string& name, std::int64_t rows,
                       std::int64_t cols) {
  return models::Tensor(budget, name,
                        {std::max<std::int64_t>(rows, 1), std::max<std::int64_t>(cols, 1)});
}
}  // namespace

// ---- StreamingConv -----------------------------------------------------------------------------

void StreamingConv::prepare(const Conv1d& conv, rt::MemoryBudget& budget, const std::string& name,
                            std::int64_t max_in, rt::Parallel* parallel) {
  parallel_ = parallel;
  if (conv.stride != 1 || !conv.causal || !conv.norm_weight.empty()) {
    throw std::invalid_argument("streaming needs causal stride-1 convolutions without group norm");
  }
  conv_ = &conv;
  pad_ = conv.effective_kernel() - 1;
  max_in_ = max_in;
  buffer_ = reserve(budget, name, 2 * pad_ + max_in, conv.in_channels);
  workspace_ = reserve(budget, name, 1, conv.workspace_floats());
  reset();
}

void StreamingConv::reset() {
  std::fill(buffer_.span().begin(), buffer_.span().end(), 0.0f);
  pending_ = 0;
  started_ = false;
}

std::int64_t StreamingConv::process(const float* x, std::int64_t n, bool final, float* y,
                                    std::optional<EluMode> elu) {
  const std::int64_t C = conv_->in_channels;
  float* buf = buffer_.data();
  std::memcpy(buf + (pad_ + pending_) * C, x, sizeof(float) * n * C);
  if (elu) elu_inplace(buf + (pad_ + pending_) * C, n * C, parallel_, *elu);
  pending_ += n;
  if (!started_) {
    if (pending_ >= pad_ + 1) {
      // Reflection: row i of the left padding is input row (pad - i).
      for (std::int64_t i = 0; i < pad_; ++i) {
        std::memcpy(buf + i * C, buf + (pad_ + pad_ - i) * C, sizeof(float) * C);
      }
      started_ = true;
    } else if (final && pending_ > 0) {
      // The whole stream is at most `pad` rows: the reference first extends it with zeros to
      // pad + 1 rows, reflects, then drops the zeros; rows reflected from beyond the input are 0.
      for (std::int64_t i = 0; i < pad_; ++i) {
        if (pad_ - i < pending_) {
          std::memcpy(buf + i * C, buf + (pad_ + pad_ - i) * C, sizeof(float) * C);
        } else {
          std::fill(buf + i * C, buf + (i + 1) * C, 0.0f);
        }
      }
      const std::int64_t n_out = pending_;
      conv_->valid(buf, n_out, y, workspace_.data(), parallel_);
      pending_ = 0;
      return n_out;
    } else {
      return 0;
    }
  }
  const std::int64_t n_out = pending_;
  conv_->valid(buf, n_out, y, workspace_.data(), parallel_);
  // The last `pad` rows become the left context of the next block.
  std::memmove(buf, buf + n_out * C, sizeof(float) * pad_ * C);
  pending_ = 0;
  return n_out;
}

// ---- StreamingConvTranspose --------------------------------------------------------------------

void StreamingConvTranspose::prepare(const ConvTranspose1d& conv, rt::MemoryBudget& budget,
                                     const std::string& name, std::int64_t max_in,
                                     rt::Parallel* parallel) {
  parallel_ = parallel;
  if (conv.padding_left() != 0 || !conv.norm_weight.empty()) {
    throw std::invalid_argument("streaming needs transposed convolutions trimmed on the right");
  }
  conv_ = &conv;
  max_in_ = max_in;
  if (conv.layout == WeightLayout::kTiled) {
    acc_ = reserve(budget, name, 1 + max_in, conv.in_channels);
  } else {
    acc_ =
        reserve(budget, name, max_in * conv.stride + conv.kernel - conv.stride, conv.out_channels);
    workspace_ = reserve(budget, name, rt::parallel_size(parallel), conv.workspace_floats());
  }
  reset();
}

void StreamingConvTranspose::reset() {
  std::fill(acc_.span().begin(), acc_.span().end(), 0.0f);
}

std::int64_t StreamingConvTranspose::process(float* x, std::int64_t n, float* y) {
  if (n == 0) return 0;
  float* acc = acc_.data();
  if (conv_->layout == WeightLayout::kTiled) {
    // [previous input, n new inputs] -> n * stride output rows; the last input is kept.
    const std::int64_t C = conv_->in_channels;
    std::memcpy(acc + C, x, sizeof(float) * n * C);
    elu_inplace(acc + C, n * C, parallel_, EluMode::kFast);
    conv_->phase_rows(acc, n, y, parallel_);
    std::memcpy(acc, acc + n * C, sizeof(float) * C);
    return n * conv_->stride;
  }
  elu_inplace(x, n * conv_->in_channels, parallel_, EluMode::kFast);
  const std::int64_t C = conv_->out_channels;
  const std::int64_t tail = conv_->kernel - conv_->stride;
  const std::int64_t n_out = n * conv_->stride;
  conv_->accumulate(x, n, acc, workspace_.data(), parallel_);
  // Rows before n * stride get no contribution from later inputs: they are final.
  const float* b = conv_->bias.data();
  for (std::int64_t t = 0; t < n_out; ++t) {
    for (std::int64_t o = 0; o < C; ++o) y[t * C + o] = acc[t * C + o] + b[o];
  }
  std::memmove(acc, acc + n_out * C, sizeof(float) * tail * C);
  std::fill(acc + tail * C, acc + (n_out + tail) * C, 0.0f);
  return n_out;
}

// ---- StreamingLstm -----------------------------------------------------------------------------

void StreamingLstm::prepare(const Lstm& lstm, rt::MemoryBudget& budget, const std::string& name,
                            std::int64_t max_in, rt::Parallel* parallel) {
  parallel_ = parallel;
  lstm_ = &lstm;
  h_ = reserve(budget, name, lstm.layers, lstm.size);
  c_ = reserve(budget, name, lstm.layers, lstm.size);
  workspace_ = reserve(budget, name, 1, lstm.workspace_floats(max_in));
  reset();
}

void StreamingLstm::reset() {
  std::fill(h_.span().begin(), h_.span().end(), 0.0f);
  std::fill(c_.span().begin(), c_.span().end(), 0.0f);
}

std::int64_t StreamingLstm::process(const float* x, std::int64_t n, float* y) {
  if (n > 0) lstm_->forward(x, n, y, h_.data(), c_.data(), workspace_.data(), parallel_);
  return n;
}

// ---- StreamingResidualBlock --------------------------------------------------------------------

void StreamingResidualBlock::prepare(const ResidualBlock& block, rt::MemoryBudget& budget,
                                     const std::string& name, std::int64_t max_in,
                                     rt::Parallel* parallel) {
  parallel_ = parallel;
  if (block.conv2.kernel != 1 || (block.has_shortcut && block.shortcut.kernel != 1)) {
    throw std::invalid_argument("streaming needs kernel-1 residual projections");
  }
  block_ = &block;
  channels_ = block.conv1.in_channels;
  conv1_.prepare(block.conv1, budget, name, max_in, parallel);
  branch_ = reserve(budget, name, conv1_.max_out(), block.conv1.out_channels);
  shortcut_ = reserve(budget, name, conv1_.max_out(), channels_);
  workspace_ = reserve(budget, name, 1,
                       std::max(block.conv2.workspace_floats(), block.shortcut.workspace_floats()));
  reset();
}

void StreamingResidualBlock::reset() {
  conv1_.reset();
  fifo_rows_ = 0;
}

std::int64_t StreamingResidualBlock::process(const float* x, std::int64_t n, bool final, float* y) {
  const std::int64_t C = channels_;
  float* fifo = shortcut_.data();
  if (n > 0) {
    if (block_->has_shortcut) {
      block_->shortcut.valid(x, n, fifo + fifo_rows_ * C, workspace_.data(), parallel_);
    } else {
      std::memcpy(fifo + fifo_rows_ * C, x, sizeof(float) * n * C);
    }
  }
  fifo_rows_ += n;
  const std::int64_t m = conv1_.process(x, n, final, branch_.data(), block_->elu);
  if (m == 0) return 0;
  elu_inplace(branch_.data(), m * block_->conv1.out_channels, parallel_, block_->elu);
  block_->conv2.valid(branch_.data(), m, y, workspace_.data(), parallel_);
  for (std::int64_t i = 0; i < m * C; ++i) y[i] += fifo[i];
  std::memmove(fifo, fifo + m * C, sizeof(float) * (fifo_rows_ - m) * C);
  fifo_rows_ -= m;
  return m;
}

// ---- StreamingStridedConv ----------------------------------------------------------------------

void StreamingStridedConv::prepare(const Conv1d& conv, rt::MemoryBudget& budget,
                                   const std::string& name, std::int64_t max_in,
                                   rt::Parallel* parallel) {
  if (!conv.causal || conv.dilation != 1 || !conv.norm_weight.empty()) {
    throw std::invalid_argument("streaming needs causal strided convolutions without group norm");
  }
  conv_ = &conv;
  parallel_ = parallel;
  pad_ = conv.padding_total();
  max_in_ = max_in;
  // Held after a push: fewer than `kernel` padded rows; then up to max_in new rows and, at the
  // end, fewer than `stride` padding rows. Before the start: up to pad raw rows + max_in.
  capacity_ = std::max<std::int64_t>(conv.kernel + max_in + conv.stride, 2 * pad_ + max_in + 1);
  buffer_ = reserve(budget, name, capacity_, conv.in_channels);
  reset();
}

std::int64_t StreamingStridedConv::max_out() const {
  return (capacity_ - conv_->kernel) / conv_->stride + 1;
}

void StreamingStridedConv::reset() {
  rows_ = 0;
  total_in_ = 0;
  started_ = false;
}

std::int64_t StreamingStridedConv::process(const float* x, std::int64_t n, bool final, float* y) {
  const std::int64_t C = conv_->in_channels;
  const std::int64_t K = conv_->kernel;
  const std::int64_t S = conv_->stride;
  float* buf = buffer_.data();
  total_in_ += n;
  if (!started_) {
    std::memcpy(buf + (pad_ + rows_) * C, x, sizeof(float) * n * C);
    rows_ += n;
    if (rows_ < pad_ + 1) {
      if (final && rows_ > 0) {
        throw std::logic_error("streaming strided conv: stream shorter than its padding");
      }
      return 0;
    }
    // Reflection: padding row i is input row (pad - i).
    for (std::int64_t i = 0; i < pad_; ++i) {
      std::memcpy(buf + i * C, buf + (pad_ + pad_ - i) * C, sizeof(float) * C);
    }
    rows_ += pad_;
    started_ = true;
  } else {
    std::memcpy(buf + rows_ * C, x, sizeof(float) * n * C);
    rows_ += n;
  }
  if (final) {
    // The extra right padding completes the last stride: reflection of the rows before the last.
    const std::int64_t extra = (S - total_in_ % S) % S;
    for (std::int64_t i = 0; i < extra; ++i) {
      std::memcpy(buf + (rows_ + i) * C, buf + (rows_ - 2 - i) * C, sizeof(float) * C);
    }
    rows_ += extra;
  }
  if (rows_ < K) return 0;
  const std::int64_t n_out = (rows_ - K) / S + 1;
  conv_->valid(buf, n_out, y, nullptr, parallel_);
  const std::int64_t consumed = n_out * S;
  std::memmove(buf, buf + consumed * C, sizeof(float) * (rows_ - consumed) * C);
  rows_ -= consumed;
  return n_out;
}

}  // namespace earshot::encodec
